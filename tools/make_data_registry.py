"""Regenerate hwsim/datasets.json from a filled data folder (a maintainer tool, not part of the package).

Usage: python tools/make_data_registry.py ../shared/data
Each file is pinned by the SHA-256 of the copy in the folder and by its public origin.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from urllib.parse import quote

NETLLM = ("duowuyms/NetLLM", "105bcf070f2bec808f7b14f8f5a953de6e4e6e54")
PHYLL = ("MomeniAli/PhyLL", "e10480b47e1349c54b42aa659314276b3c24d92c")
VOWELS = ("saimnaveediqbal/TTT4275-Classification_Petals_and_Vowels", "362306428d6b741fc3b5efbdabc9a97d46ed3467")
GENET = ("GenetProject/Genet", "5d4303bf7d817136889120eab87f05e22066add3")
TPCH_SIZES = ["2g", "5g", "10g", "20g", "50g", "80g", "100g"]


def raw(repo: tuple[str, str], path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo[0]}/{repo[1]}/{quote(path)}"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def main(root: Path) -> None:
    reg: dict[str, dict] = {}

    def add(ds: str, rel: str, url: str | None = None, convert: str | None = None, sources: list[str] | None = None,
            description: str = "") -> None:
        entry = reg.setdefault(ds, {"description": description, "files": []})
        f = {"path": rel, "sha256": sha(root / ds / rel)}
        if url:
            f["url"] = url
        if convert:
            f["convert"] = convert
            f["sources"] = sources or []
        entry["files"].append(f)

    d = "Hillenbrand (1995) vowel formants; the 7-vowel PhyLL subset"
    add("vowels", "vowdata.dat", raw(VOWELS, "Vowels/Dataset/vowdata.dat"), description=d)
    add("vowels", "phyll_Vowel_dataset.xlsx", raw(PHYLL, "Vowel datasets/Vowel_dataset.xlsx"))
    add("vowels", "phyll_Vowel_dataset.csv", convert="xlsx_to_csv",
        sources=[raw(PHYLL, "Vowel datasets/Vowel_dataset.xlsx")])
    d = "10,000 measured input/output pairs of a nonlinear acoustic cavity (PhyLL)"
    for name in ("x_data.csv", "y_data.csv"):
        add("phyll_acoustic", name, raw(PHYLL, f"Experimental Data/Acoustic/{name}"), description=d)
    d = "Pensieve/NetLLM ABR: FCC test traces, Norway HSDPA traces, EnvivioDash3 chunk sizes"
    fcc = "adaptive_bitrate_streaming/data/traces/test/fcc-test"
    for p in sorted((root / "abr" / "traces_fcc").iterdir()):
        add("abr", f"traces_fcc/{p.name}", raw(NETLLM, f"{fcc}/{p.name}"), description=d)
    for p in sorted((root / "abr" / "traces_hsdpa").iterdir()):
        add("abr", f"traces_hsdpa/{p.name}", raw(GENET, f"abr_trace/training_trace/norway_train/{p.name}"))
    for i in range(6):
        add("abr", f"video_sizes/video_size_{i}",
            raw(NETLLM, f"adaptive_bitrate_streaming/data/videos/video1_sizes/video_size_{i}"))
    add("abr", "fcc_test_mahimahi_ptrs.json", convert="pickle_ints_to_json",
        sources=[raw(NETLLM, f"{fcc}/mahimahi_ptrs.pkl")])
    d = "360-degree video head-movement traces at 5 Hz (Jin2022, Wu2017 subsets, via NetLLM)"
    for p in sorted((root / "vp").rglob("*.csv")):
        rel = p.relative_to(root / "vp").as_posix()
        add("vp", rel, raw(NETLLM, f"viewport_prediction/data/viewports/{rel}"), description=d)
    d = "TPC-H job DAGs with measured task durations (Decima / spark-sched-sim)"
    for size in TPCH_SIZES:
        base = f"cluster_job_scheduling/data/tpch/{size}"
        srcs = [raw(NETLLM, f"{base}/{kind}_{q}.npy") for q in range(1, 23)
                for kind in ("adj_mat", "task_duration", "stage_id_to_node_idx_map")]
        add("cjs", f"tpch_{size}.json.gz", convert="tpch_npy_to_json", sources=srcs, description=d)
    out = Path(__file__).resolve().parent.parent / "hwsim" / "datasets.json"
    out.write_text(json.dumps(reg, indent=1) + "\n")
    print(f"wrote {out}: " + ", ".join(f"{k} ({len(v['files'])} files)" for k, v in reg.items()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
