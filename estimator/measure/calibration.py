"""The measuring half of estimate-calibrate: spend a time budget where it teaches a base profile the most.

Order of work, all timed in context (kernels inside whole graphs, with a drift guard):
1. probe the fusion rules (about a second);
2. a round of generated networks, one of each family, and the 21 zoo models at batch 1 (real
   architectures: the run overhead and the composition come from these whole models, and five of them
   judge the budget curve; about 100 s at 2 threads on a 2-core VM), with one export of each op family
   (int8, attention, recurrent, 3-D, transposed convolution), then ViT-B/16 (the Gemms of base-size
   transformers), right after those five;
3. then, until the budget is spent: more generated networks, drawn family by family in proportion to
   how uncertain the base profile is about that family here (the spread of its error on what this
   machine measured so far, plus how far that family's error is from the machine-wide one).
Seeds start far from the shipped data set's, so nothing measured here was trained on before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from estimator.measure.backends.ort import OrtBackend
from estimator.measure.fusion_probes import detect_fusion_rules
from estimator.measure.incontext import RunPolicy
from estimator.measure.kernel_collector import DriftGuard, GraphJob, KernelCollector, Progress
from estimator.measure.kernel_plan import file_jobs, reference_job, write_device_json
from estimator.predict.estimation import estimate_jobs
from estimator.predict.extraction import ModelJob
from estimator.predict.profiles import Profile
from graph.extract import extract_layers
from graph.generate import COVERAGE, FAMILIES, generate

__all__ = ["CALIBRATION_FAMILIES", "CALIBRATION_ZOO", "CalibrationPlan", "run_calibration"]

log = logging.getLogger(__name__)
# The zoo at batch 1, smallest first after the five that judge the budget curve (estimator.train.calibration);
# with only those five, a 600 s calibration put 40% of the unseen models within ±10%; with all 21, 67% (README).
CALIBRATION_ZOO = ("resnet18", "mobilenet_v2", "mobilenet_v3_small", "googlenet", "resnet50",
                   "lenet", "alexnet", "mobilenet_v3_large", "resnet34", "resnext50_32x4d", "convnext_tiny",
                   "resnet101", "resnet152", "vgg11", "vgg13", "convnext_small", "resnext101_64x4d",
                   "resnext101_32x8d", "vgg16", "vgg19", "convnext_base")
# One export of each op family the base profile covers beyond the zoo's float 2-D CNNs, measured right after the five
# zoo models that judge the budget curve: int8 kernels (their speed follows the vector units: a Zen 2 base profile
# put an int8 ResNet-50 +163% on a Zen 4 with VNNI after a 60 s calibration of float models only), attention
# MatMuls and LayerNorms, recurrent cells, 3-D convolutions (+26% on R(2+1)D) and transposed convolutions (U-Net):
# with every layer kind of the base timed here, a fit from scratch loses none of them (estimator.train.transfer).
# Last, ViT-B/16: the Gemms of the base-size transformers (width 768, MLP 3,072, a few hundred tokens). Without them a
# 60 s calibration's largest Gemms were the small encoder's and AlexNet's memory-bound ones, and its trees put
# BERT-base, DistilBERT, GPT-2 and ViT-B +14% to +17% at 2 threads. It takes about 4 s at 2 threads and 8 s at 1, so it
# comes after the layer kinds: before the U-Net, it left a 60 s calibration without transposed convolutions, and so
# without the fit from scratch.
CALIBRATION_FAMILIES = ("resnet18_int8_qdq", "mobilenet_v2_int8_qdq", "transformer_encoder", "lstm", "gru", "r3d_18",
                        "unet", "vit_b_16")
# Copies of those training_data/zoo and training_data/families models (shape-only, 1.8 MB), shipped in the package so
# that a calibration after `pip install .` has them too (tests check that the copies match).
ZOO_DIR = Path(__file__).resolve().parent / "calibration_zoo"


@dataclass(frozen=True)
class CalibrationPlan:
    """What a calibration may measure, and how fast each graph must be."""

    zoo: tuple[str, ...] = CALIBRATION_ZOO
    op_families: tuple[str, ...] = CALIBRATION_FAMILIES
    # The architecture families; op coverage (graph.generate.COVERAGE) is the base profile's, not drawn again here.
    families: tuple[str, ...] = tuple(f for f in FAMILIES if f not in COVERAGE)
    first_seed: int = 100_000  # the shipped data set uses seeds below this
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8)
    max_macs: float = 6e8  # per graph run, batch included: keeps every graph to tens of milliseconds
    chunk: int = 8  # graphs between two re-plannings


def run_calibration(out_dir: Path, backend: OrtBackend, base: Profile | None, plan: CalibrationPlan,
                    deadline: float, policy: RunPolicy | None = None, progress: Progress | None = None,
                    command: str = "") -> dict[str, object]:
    """Measure until `deadline` (time.monotonic()); a rerun resumes from the folder's journal."""
    started = time.monotonic()
    rules = detect_fusion_rules(backend.settings.optimization_level, backend.settings.provider)
    collector = KernelCollector(out_dir, backend, rules, policy or RunPolicy(), DriftGuard(reference_job()), progress)
    sources: dict[tuple[str, int], bytes] = {}  # each generated graph as generated, once: (name, batch) -> model
    seeds = {family: _seeds(plan, family, sources) for family in plan.families}
    first_round = [job for family in plan.families if (job := next(seeds[family], None)) is not None]
    names = [*plan.zoo[:5], *plan.op_families, *plan.zoo[5:]]  # in this order (file_jobs sorts the files it is given)
    zoo = [job for name in names for job in file_jobs([ZOO_DIR / f"{name}.onnx"], "zoo", (1,))]
    measured = collector.run(_interleave(first_round, zoo), deadline)["measured"]
    uncertainty = _Uncertainty(base, plan.families, sources)
    while time.monotonic() < deadline:
        picks = np.random.default_rng(measured).choice(len(plan.families), size=plan.chunk,
                                                        p=uncertainty.weights(collector.graph_entries()))
        jobs = [next(seeds[plan.families[index]]) for index in picks]
        done = collector.run(jobs, deadline)["measured"]
        measured += done
        if not done:
            break
    summary = {"planned": measured, "measured": measured, "complete": True,
               "duration_s": round(time.monotonic() - started, 1)}
    write_device_json(collector, summary, command)
    return summary


def _seeds(plan: CalibrationPlan, family: str, sources: dict[tuple[str, int], bytes]) -> Iterator[GraphJob]:
    """This family's networks, one batch size each, skipping any too slow for a calibration; each job's model
    is also noted in `sources`, so that nothing generates it again."""
    seed = plan.first_seed
    while True:
        network = generate(family, seed)
        data = network.model.SerializeToString()
        macs = sum(getattr(layer, "macs", 0) for layer in extract_layers(data, batch_size=1).layers)
        allowed = [b for b in plan.batch_sizes if b * macs <= plan.max_macs]
        if allowed:
            batch = int(np.random.default_rng([FAMILIES.index(family), seed, 11]).choice(allowed))
            sources[network.name, batch] = data
            yield GraphJob(network.name, "generated", family, data, batch)
        seed += 1


def _interleave(generated: Sequence[GraphJob], zoo: Sequence[GraphJob]) -> list[GraphJob]:
    jobs: list[GraphJob] = []
    step = max(1, len(generated) // max(1, len(zoo)))
    zoo = list(zoo)
    for index, job in enumerate(generated):
        jobs.append(job)
        if zoo and (index + 1) % step == 0:
            jobs.append(zoo.pop(0))
    return jobs + zoo


class _Uncertainty:
    """Sampling weights per family: the spread of the base profile's log error on this machine's graphs plus
    that family's offset from the machine-wide error (uniform without a base; every family keeps at least a
    tenth of its uniform share). Base predictions are made once per graph, for all new graphs together, from the
    bytes the graph was generated as (a graph resumed from an earlier run's journal is generated again)."""

    def __init__(self, base: Profile | None, families: Sequence[str], sources: dict[tuple[str, int], bytes]) -> None:
        self.base = base
        self.families = list(families)
        self.sources = sources
        self.errors: dict[tuple[str, int], tuple[str, float]] = {}

    def weights(self, entries: Sequence[dict[str, object]]) -> np.ndarray:
        uniform = np.full(len(self.families), 1 / len(self.families))
        if self.base is None:
            return uniform
        new = [entry for entry in entries if entry["source"] == "generated"
               and (str(entry["model"]), int(entry["batch_size"])) not in self.errors]
        jobs = [ModelJob(self._source(entry), batch_size=int(entry["batch_size"])) for entry in new]
        for entry, report in zip(new, estimate_jobs(jobs, self.base), strict=True):
            key = (str(entry["model"]), int(entry["batch_size"]))
            self.errors[key] = (str(entry["family"]), float(np.log(float(entry["end_to_end_ms"]) / report.totals.runtime_ms)))
        if not self.errors:
            return uniform
        overall = float(np.median([error for _, error in self.errors.values()]))
        scores = []
        for family in self.families:
            values = np.asarray([error for name, error in self.errors.values() if name == family])
            scores.append(1.0 if values.size < 2 else float(values.std() + abs(np.median(values) - overall)))
        weights = np.asarray(scores) / max(sum(scores), 1e-9)
        weights = np.maximum(weights, 0.1 / len(self.families))
        return weights / weights.sum()

    def _source(self, entry: dict[str, object]) -> bytes:
        key = (str(entry["model"]), int(entry["batch_size"]))
        if key not in self.sources:
            self.sources[key] = generate(str(entry["family"]), int(key[0].rsplit("_", 1)[1])).model.SerializeToString()
        return self.sources[key]
