"""The labelled router sets, read in place from the shared data directory (never copied into the repo).

- RouteLLM GSM8K and MMLU (`router/routellm/`): per prompt, whether Mixtral-8x7B (tier `cheap`) and
  GPT-4-1106 (tier `strong`) answered correctly; prompts listed in `contaminated_<bench>.jsonl` (`eval_prompt`)
  are dropped, as RouteLLM's evals do. Split: `is_test(prompt)` (sha256("rcb-v1" + prompt) % 2 == 1).
- MT-Bench (`mt_bench_question.jsonl`, `mt_bench_judgements.jsonl`): questions whose turn 1 or turn 2 is
  contaminated are dropped (80 -> 72); each model's score on a question is the mean GPT-4 judge score of both
  turns; routing sees turn 1 only. Used whole, as a transfer test.
- RouterBench subset (`router/routerbench_subset/`): its own train/test CSVs; rows with a blank prompt, score or
  cost are dropped; 11 models, score in [0, 1] and real `total_cost` per model.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHEAP_MODEL",
    "SUBJECT_DOMAINS",
    "SPLIT_SALT",
    "STRONG_MODEL",
    "Example",
    "MTBenchQuestion",
    "RouterBenchRow",
    "calibration_part",
    "data_hash",
    "is_test",
    "load_gsm8k",
    "load_mmlu",
    "load_mt_bench",
    "load_routerbench",
    "routellm_files",
    "routerbench_files",
    "split_examples",
]

SPLIT_SALT = "rcb-v1"
CALIBRATION_SALT = "rcb-v1-calibration"
CHEAP_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG_MODEL = "gpt-4-1106-preview"
ROUTERBENCH_SETS = ("arc_challenge", "mbpp", "winograde")

csv.field_size_limit(1 << 30)

# Training prompts that teach the embedding domain centroids (GSM8K is math; MMLU subjects by field).
_SUBJECTS = {
    "math": "abstract_algebra college_mathematics elementary_mathematics high_school_mathematics "
    "high_school_statistics",
    "code": "college_computer_science high_school_computer_science machine_learning computer_security",
    "law": "international_law jurisprudence professional_law",
    "medicine": "anatomy clinical_knowledge college_medicine medical_genetics professional_medicine nutrition virology",
    "science": "astronomy college_biology college_chemistry college_physics conceptual_physics high_school_biology "
    "high_school_chemistry high_school_physics electrical_engineering",
}
SUBJECT_DOMAINS: dict[str, str] = {"gsm8k": "math"} | {
    subject: domain for domain, subjects in _SUBJECTS.items() for subject in subjects.split()
}


@dataclass(frozen=True)
class Example:
    """One RouteLLM prompt with each tier's correctness."""

    benchmark: str
    subject: str
    prompt: str
    cheap_ok: bool
    strong_ok: bool


@dataclass(frozen=True)
class MTBenchQuestion:
    """One MT-Bench question: turn 1 (routed on) and each tier's mean judge score over both turns."""

    question_id: int
    category: str
    turn1: str
    cheap_score: float
    strong_score: float


@dataclass(frozen=True)
class RouterBenchRow:
    """One RouterBench prompt with every model's score and real cost."""

    sample_id: str
    eval_name: str
    prompt: str
    scores: dict[str, float]
    costs: dict[str, float]


def _digest_int(salt: str, prompt: str) -> int:
    return int(hashlib.sha256((salt + prompt).encode()).hexdigest(), 16)


def is_test(prompt: str) -> bool:
    """The fixed split: test iff sha256("rcb-v1" + prompt) (hex digest as an integer) is odd."""
    return _digest_int(SPLIT_SALT, prompt) % 2 == 1


def calibration_part(prompt: str, share_in_5: int = 1) -> bool:
    """Within train: the calibration part (temperature fit) is sha256("rcb-v1-calibration" + prompt) % 5 < share."""
    return _digest_int(CALIBRATION_SALT, prompt) % 5 < share_in_5


def _bool(value: str, where: str) -> bool:
    if value == "True":
        return True
    if value == "False":
        return False
    raise ValueError(f"{where}: expected True/False, got {value!r}")


def _contaminated(path: Path) -> set[str]:
    out: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                out.add(json.loads(line)["eval_prompt"])
    return out


def _routellm_rows(path: Path, benchmark: str, subject: str, dropped: set[str]) -> list[Example]:
    out: list[Example] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            prompt = row["prompt"]
            if prompt in dropped:
                continue
            where = f"{path.name} row {index}"
            out.append(
                Example(benchmark, subject, prompt, _bool(row[CHEAP_MODEL], where), _bool(row[STRONG_MODEL], where))
            )
    return out


def load_gsm8k(root: Path) -> list[Example]:
    """GSM8K rows (contaminated prompts dropped), file order."""
    base = root / "router" / "routellm"
    return _routellm_rows(
        base / "gsm8k_responses.csv", "gsm8k", "gsm8k", _contaminated(base / "contaminated_gsm8k.jsonl")
    )


def load_mmlu(root: Path) -> list[Example]:
    """MMLU rows of all 57 subjects in file-name order (contaminated prompts dropped)."""
    base = root / "router" / "routellm"
    dropped = _contaminated(base / "contaminated_mmlu.jsonl")
    out: list[Example] = []
    for path in sorted((base / "mmlu_responses").glob("mmlu_*.csv")):
        out.extend(_routellm_rows(path, "mmlu", path.stem.removeprefix("mmlu_"), dropped))
    return out


def load_mt_bench(root: Path) -> list[MTBenchQuestion]:
    """MT-Bench questions not contaminated, each tier's score = mean judge score over both turns."""
    base = root / "router" / "routellm"
    dropped = _contaminated(base / "contaminated_mt_bench.jsonl")
    scores: dict[tuple[int, str], list[float]] = {}
    with (base / "mt_bench_judgements.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            scores.setdefault((int(row["question_id"]), row["model"]), []).append(float(row["score"]))
    out: list[MTBenchQuestion] = []
    with (base / "mt_bench_question.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            q = json.loads(line)
            turns = q["turns"]
            if turns[0] in dropped or turns[1] in dropped:
                continue
            qid = int(q["question_id"])
            cheap, strong = scores[(qid, CHEAP_MODEL)], scores[(qid, STRONG_MODEL)]
            if len(cheap) != 2 or len(strong) != 2:
                raise ValueError(f"MT-Bench question {qid}: expected 2 judged turns per model")
            out.append(MTBenchQuestion(qid, q["category"], turns[0], sum(cheap) / 2, sum(strong) / 2))
    return out


def _prompt_text(raw: str) -> str:
    """RouterBench stores the prompt as a Python list literal of strings; join them."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return raw


def load_routerbench(root: Path, split: str) -> list[RouterBenchRow]:
    """The RouterBench subset's `split` ("train" | "test") rows of the three sets, blank rows dropped."""
    if split not in ("train", "test"):
        raise ValueError("split must be 'train' or 'test'")
    out: list[RouterBenchRow] = []
    for name in ROUTERBENCH_SETS:
        with (root / "router" / "routerbench_subset" / f"{name}_{split}.csv").open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            models = [c.removesuffix("|total_cost") for c in fields if c.endswith("|total_cost")]
            for row in reader:
                values = [row["prompt"], *(row[m] for m in models), *(row[f"{m}|total_cost"] for m in models)]
                if any(v is None or not v.strip() for v in values):
                    continue
                scores = {m: float(row[m]) for m in models}
                costs = {m: float(row[f"{m}|total_cost"]) for m in models}
                out.append(
                    RouterBenchRow(row["sample_id"], row["eval_name"], _prompt_text(row["prompt"]), scores, costs)
                )
    return out


def routellm_files(root: Path) -> list[Path]:
    """The RouteLLM files training reads, in a fixed order."""
    base = root / "router" / "routellm"
    return [
        base / "gsm8k_responses.csv",
        base / "contaminated_gsm8k.jsonl",
        *sorted((base / "mmlu_responses").glob("mmlu_*.csv")),
        base / "contaminated_mmlu.jsonl",
    ]


def routerbench_files(root: Path) -> list[Path]:
    """The RouterBench subset files, in a fixed order."""
    base = root / "router" / "routerbench_subset"
    return [base / f"{name}_{split}.csv" for name in ROUTERBENCH_SETS for split in ("train", "test")]


def data_hash(files: Iterable[Path], relative_to: Path) -> str:
    """sha256 over (relative path, NUL, sha256 of bytes, newline) of each file in order."""
    outer = hashlib.sha256()
    for file in files:
        inner = hashlib.sha256(file.read_bytes()).hexdigest()
        outer.update(f"{file.relative_to(relative_to).as_posix()}\0{inner}\n".encode())
    return outer.hexdigest()


def split_examples(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(train, test) halves by `is_test`."""
    train = [e for e in examples if not is_test(e.prompt)]
    test = [e for e in examples if is_test(e.prompt)]
    return train, test
