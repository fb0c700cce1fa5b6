"""`make eval` on a real SDXL base model on a GPU, with the published face-similarity figures of the tuning-free
methods (PhotoMaker, InstantID, PuLID) beside our table.

    HEADSHOTS_BASE_MODEL=stabilityai/stable-diffusion-xl-base-1.0 python bench/quality/eval_gpu.py [eval options]

It sets what README.md's "A real base model on a GPU" sets, where not set already (HEADSHOTS_BASE_MODEL_ARCH=sdxl,
HEADSHOTS_TRAIN_STEPS=500, HEADSHOTS_RENDER_STEPS=30), runs bench/quality/eval.py's orders through the local stack
with the quality gate on, prints the table and the published figures, and merges its figures into
docs/benchmarks.json under `quality.eval_gpu.*`. Without CUDA, or with the generated test model, it stops and says
why: its figures would be the CPU table's (`make eval`).

The comparison is indicative only. Each paper measured face similarity on its own benchmark (its own identities,
prompts and reference photos) with its own face-recognition model, usually a cosine similarity of ArcFace- or
FaceNet-style embeddings; ours is dlib's 128-d embedding distance mapped to 0-1 (0.5 at dlib's same-person distance)
on the photos of tests/fixtures/people. The same images score differently under different face models, so only
large gaps mean anything. A figure that could not be read from its source here is shown as "not found" rather than
quoted from memory: fill in `value` from the cited paper to complete the comparison.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The sibling script, imported by path: bench/ is not a package.
import eval as quality_eval

FIGURE_PREFIX = "quality.eval_gpu."
CONFIG_NAME = "quality_gpu"
GPU_DEFAULTS = {"HEADSHOTS_BASE_MODEL_ARCH": "sdxl", "HEADSHOTS_TRAIN_STEPS": "500", "HEADSHOTS_RENDER_STEPS": "30"}


@dataclass(frozen=True)
class Published:
    method: str
    source: str  # the paper: title, venue or arXiv id
    measure: str  # what the paper calls the figure, as far as it could be established here
    value: float | None  # None: not found
    note: str = ""


# Sources were confirmed (title, authors, arXiv id); the papers' result tables could not be read from this
# machine, so no value is given: "not found" until someone copies it from the cited table.
PUBLISHED = [
    Published(
        "PhotoMaker",
        "Li et al., PhotoMaker: Customizing Realistic Human Photos via Stacked ID Embedding, CVPR 2024, "
        "arXiv 2312.04461",
        "face similarity in the paper's quantitative comparison with fine-tuning and tuning-free methods",
        None,
    ),
    Published(
        "InstantID",
        "Wang et al., InstantID: Zero-shot Identity-Preserving Generation in Seconds, arXiv 2401.07519",
        "face similarity, where the paper reports one",
        None,
    ),
    Published(
        "PuLID",
        "Guo et al., PuLID: Pure and Lightning ID Customization via Contrastive Alignment, NeurIPS 2024, "
        "arXiv 2404.16022",
        "face similarity (ID cosine) in the paper's comparison with PhotoMaker, InstantID and IP-Adapter",
        None,
    ),
]


def format_published(published: Sequence[Published] = PUBLISHED) -> str:
    lines = [
        "Published face similarity of tuning-free methods (indicative only: their benchmarks, their face models):",
    ]
    for entry in published:
        value = "not found" if entry.value is None else f"{entry.value:.3f}"
        lines.append(f"  {entry.method:<11} {value:>9}  {entry.measure}")
        lines.append(f"  {'':<11} {'':>9}  source: {entry.source}" + (f"; {entry.note}" if entry.note else ""))
    lines.append(
        "Ours: likeness = 1 - d/1.2 of dlib's 128-d embedding distance d to the closest selfie (0.5 = dlib's "
        "same-person distance), measured on tests/fixtures/people; theirs: cosine similarity of another face "
        "model on their own benchmark. Compare large gaps only."
    )
    return "\n".join(lines)


def format_report(rows: Sequence[quality_eval.Row], published: Sequence[Published] = PUBLISHED) -> str:
    return quality_eval.format_table(rows) + "\n\n" + format_published(published)


def preflight(environ: dict[str, str]) -> str | None:
    """Why this run cannot measure a real model here, or None."""
    from headshots_common.basemodel import is_generated_test_model

    base_model = environ.get("HEADSHOTS_BASE_MODEL", "")
    if not base_model:
        return "set HEADSHOTS_BASE_MODEL to a real SDXL model (a hub id or a local diffusers folder)"
    if is_generated_test_model(base_model):
        return f"{base_model} is the generated test model: run `make eval` for its (face-less) table"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA device: an SDXL order takes hours on a CPU; run this where a GPU is"
    return None


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = quality_eval.parser(__doc__.splitlines()[0]).parse_args(argv)
    console = Console(stderr=True)
    quality_eval.stop_on_sigterm()
    reason = preflight(dict(os.environ))
    if reason:
        console.print(f"[red]eval_gpu:[/] {reason}")
        return 2
    extra_env = {k: os.environ.get(k, v) for k, v in GPU_DEFAULTS.items()}
    rows, outcomes, config, seconds = quality_eval.evaluate(args, console, extra_env)
    config |= extra_env
    print(format_report(rows))
    print(f"\n{len(outcomes)} people, {rows[-1].orders} orders run, {seconds:.0f}s; base model: {config['base_model']}")
    if not args.no_json:
        figures = quality_eval.figures(rows[-1], outcomes, config, prefix=FIGURE_PREFIX)
        quality_eval.merge_into(Path(args.json), figures, config, config_name=CONFIG_NAME)
        print(f"figures written to {args.json} ({FIGURE_PREFIX}*)")
    return 0 if rows[-1].orders else 1


if __name__ == "__main__":
    sys.exit(main())
