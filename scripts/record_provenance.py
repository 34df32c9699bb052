"""Copy a checkpoint, adding how it was made (recipe, kws-synth manifest, git commit) to its provenance,
and the boost kws-export is to apply to it."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from kws_edge.errors import KwsError, run_cli
from kws_edge.export.export_cli import parse_boost
from kws_edge.training.checkpoint import atomic_save, load_checkpoint


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint")
    parser.add_argument("--synth", required=True, help="the kws-synth dataset it was trained on")
    parser.add_argument("--recipe", required=True, help="the command that made it")
    parser.add_argument("--training-data", default="synthetic speech only (kws-synth); no real human speech",
                        help="what it was trained on, in words (the model card's data line)")
    parser.add_argument("--boost", metavar="WORD[,WORD...]=F",
                        help="odds factor kws-export applies to these words by default (kws-export --boost)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    return run_cli("record_provenance", lambda: stamp(args))


def stamp(args: argparse.Namespace) -> None:
    ckpt = load_checkpoint(args.checkpoint)
    manifest_path = Path(args.synth) / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    except (OSError, json.JSONDecodeError) as exc:
        raise KwsError(f"{manifest_path}: not a readable kws-synth manifest ({exc})") from None
    provenance = dict(ckpt.get("provenance") or {})
    provenance.update({
        "recipe": args.recipe,
        "git_commit": git_commit(),
        "training_data": args.training_data,
        "synth_manifest": json.dumps(manifest, sort_keys=True),
    })
    ckpt["provenance"] = provenance
    if args.boost:
        ckpt["boost"] = parse_boost([args.boost], [str(w) for w in ckpt["labels"]])
    atomic_save(ckpt, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    raise SystemExit(main())
