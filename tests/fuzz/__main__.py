"""The long fuzz run: `python -m tests.fuzz --model-mutants 10000 --profile-mutants 1000 [--seed 0] [--keep DIR]`.

Prints the outcome counts per kind of mutant and every failure; exits 1 when any case failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz.runner import FAILURES, Campaign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-mutants", type=int, default=10_000)
    parser.add_argument("--profile-mutants", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds one case may take")
    parser.add_argument("--memory-mb", type=int, default=2048, help="resident memory one case may use")
    parser.add_argument("--keep", type=Path, help="copy failing cases here")
    parser.add_argument("--json", type=Path, help="also write the counts and failures here")
    args = parser.parse_args(argv)
    started = time.monotonic()

    def progress(done: int, total: int, counts) -> None:
        if done % 250 == 0 or done == total:
            failed = sum(n for (kind, outcome), n in counts.items() if outcome in FAILURES)
            print(f"[{time.monotonic() - started:7.0f}s] {done}/{total} cases, {failed} failed", flush=True)

    with tempfile.TemporaryDirectory(prefix="fuzz-") as scratch:
        campaign = Campaign(args.seed, args.model_mutants, args.profile_mutants, Path(scratch),
                            timeout_s=args.timeout, memory_mb=args.memory_mb, keep=args.keep)
        campaign.run(progress)
    for (kind, outcome), count in sorted(campaign.counts.items()):
        print(f"{kind:8} {outcome:22} {count}")
    print("model mutations applied:", ", ".join(f"{name} {count}" for name, count in sorted(campaign.mutations.items())))
    print("most frequent errors:")
    for message, count in campaign.errors.most_common(40):
        print(f"  {count:6} {message}")
    for failure in campaign.failures:
        print(json.dumps(failure))
    print("slowest:", campaign.slowest)
    if args.json:
        args.json.write_text(json.dumps({"counts": {f"{k}/{o}": n for (k, o), n in campaign.counts.items()},
                                         "errors": dict(campaign.errors.most_common()),
                                         "failures": campaign.failures, "slowest": campaign.slowest,
                                         "mutations": dict(sorted(campaign.mutations.items())),
                                         "seconds": round(time.monotonic() - started)}, indent=1) + "\n")
    return 1 if campaign.failures else 0


if __name__ == "__main__":
    sys.exit(main())
