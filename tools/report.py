"""The build report: a Markdown page with the fidelity table and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.evaluate import roc


def _plots(folder: Path, name: str, p: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for key, label, style in (("sim_f", "float", dict(lw=4, alpha=0.5)), ("sim_q", "int8", dict(lw=1.5, ls="--"))):
        far, tar, _ = roc(p[key], p["same"])
        ax.plot(far, tar, label=label, drawstyle="steps-post", **style)
    ax.set_xscale("symlog", linthresh=1e-2)
    ax.set(xlabel="false accept rate", ylabel="true accept rate", title=f"{name}: ROC on labelled pairs")
    ax.legend()
    fig.tight_layout()
    f = f"{name}_roc.png"
    fig.savefig(folder / f, dpi=90)
    plt.close(fig)
    files.append(f)
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.hist(p["cosine"], bins=30)
    ax.set(xlabel="cosine(int8, float)", ylabel="crops", title=f"{name}: int8 vs float embeddings")
    fig.tight_layout()
    f = f"{name}_cosine.png"
    fig.savefig(folder / f, dpi=90)
    plt.close(fig)
    files.append(f)
    return files


def write_report(path: Path, models_dir: Path, plots: dict[str, dict[str, Any]]) -> None:
    """Write the report over every model folder in ``models_dir``; plots are redrawn for
    the models rebuilt in this run (``plots``) and kept from earlier runs otherwise."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    manifests = {p.parent.name: yaml.safe_load(p.read_text()) for p in sorted(models_dir.glob("*/manifest.yaml"))}
    lines = ["# Model build report", "", "Written by `python -m tools.build`. Int8 against float on held-out images (see each manifest's `fidelity`).", ""]
    lines += ["| model | task | size (bytes) | int8 vs float | bar | calibration samples | ops |", "|---|---|---|---|---|---|---|"]
    for name, m in manifests.items():
        fid = m["fidelity"]
        shown = ", ".join(f"{k} {fid[k]}" for k in fid["bars"])
        bars = ", ".join(f"{k} {v}" for k, v in fid["bars"].items())
        ops = ", ".join(f"{k}×{v}" for k, v in m["ops"].items())
        lines.append(f"| {name} | {m['task']} | {m['size_bytes']} | {shown} | {bars} | {fid['calibration_samples']} | {ops} |")
    lines += ["", "## Edge TPU", "", "Operators checked against the Edge TPU's published list (https://coral.ai/docs/edgetpu/models-intro/#supported-operations); "
              "a model is compiled with `edgetpu_compiler` only where it is installed.", "",
              "| model | operators not in the list | compiled |", "|---|---|---|"]
    for name, m in manifests.items():
        e = m.get("edgetpu") or {"ops_not_in_published_list": ["(not audited: rebuild)"], "note": "older build"}
        lines.append(f"| {name} | {', '.join(e['ops_not_in_published_list']) or 'none'} | {e.get('compiled') or 'no (' + e.get('note', '') + ')'} |")
    lines.append("")
    for name, man in manifests.items():
        if man["task"] != "embedder":
            continue
        files = _plots(path.parent, name, plots[name]) if name in plots else [f for f in (f"{name}_roc.png", f"{name}_cosine.png") if (path.parent / f).exists()]
        m = man["fidelity"]
        lines += [f"## {name}", "", f"Threshold {manifests[name]['thresholds']['cosine']} (target FAR {m['target_far']}): "
                  f"TAR int8 {m['tar_int8']}, float {m['tar_float']}; FAR int8 {m['far_int8']}, float {m['far_float']}; "
                  f"decisions agree on {m['pair_agreement']} of {int(m['pairs'])} pairs.", ""]
        lines += [f"![{f}]({f})" for f in files] + [""]
    path.write_text("\n".join(lines))
