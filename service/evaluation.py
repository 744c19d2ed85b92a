"""`eval-nlu`: how well the model understands external data it was never trained on.

Each line is read the way a tenant's message is (clean_text, then the model),
and the model's intent is mapped onto the evaluation labels. Nothing here
trains or tunes anything.
"""

import json
import socket
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

import yaml

from service import stack
from service.languages import configured_languages
from service.messaging import clean_text
from service.rasa_client import RasaClient

INTENT_TO_LABEL = {
    "affirm": "confirm",
    "deny": "deny",
    "cancel": "cancel",
    "rebook": "rebook",
    "cannot_make_it": "rebook",
    # A complaint about a visit we missed: none of the evaluation's labels fits better.
    "nobody_came": "other",
    "request_human": "request_human",
    "stop": "stop",
    "thanks": "thanks",
    "greet": "greet",
    "out_of_scope": "out_of_scope",
    "ask_when": "other",
    "ask_who": "other",
    "ask_what": "other",
    "ask_duration": "other",
    "ask_at_door": "other",
    # The assistant does nothing with a message it cannot place but say so and offer
    # its menu: the same outcome as a request it cannot serve.
    "nlu_fallback": "out_of_scope",
}
# Predictions that would change a booking: the costly mistakes on a "no such request" line.
ACTING_LABELS = {"confirm", "cancel", "rebook", "deny", "stop"}


def predict_label(rasa: RasaClient, text: str) -> tuple[str, str, float]:
    parsed = rasa.parse(clean_text(text) or " ")
    intent = parsed.get("intent") or {}
    name = intent.get("name") or "nlu_fallback"
    return INTENT_TO_LABEL.get(name, "other"), name, float(intent.get("confidence") or 0.0)


def evaluate_directory(runtime, directory: Path, progress=None) -> dict:
    """Every JSONL file (the external data's format) and Rasa NLU YAML file (our own test sets)."""
    items = list(_read_items(Path(directory)))
    with _rasa_for_evaluation(runtime, progress) as rasa:
        lines = []
        for item in items:
            label, intent, confidence = predict_label(rasa, item["text"])
            lines.append({**item, "predicted": label, "intent": intent, "confidence": round(confidence, 4)})
    report = build_report(lines)
    targets = {_eval_tag(language.code) for language in configured_languages(runtime.settings)}
    report["target_languages"] = sorted(targets)
    return report


def _eval_tag(code: str) -> str:
    """Our catalog code as the evaluation data tags it: "pa_Arab" -> "pa-Arab", "zh_Hans" -> "zh"."""
    return "zh" if code.startswith("zh") else code.replace("_", "-")


def _read_items(directory: Path):
    for path in sorted(directory.glob("*.jsonl")):
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not raw.strip():
                continue
            item = json.loads(raw)
            yield {
                "file": path.name,
                "line": number,
                "text": item.get("text", ""),
                "lang": item.get("lang", ""),
                "label": item.get("label", ""),
                # Date-answer lines are for slot extraction, not intent scoring (see the data's README).
                "scored": item.get("use") != "datetime_extraction_only",
                "variant": item.get("variant"),
            }
    for path in sorted(directory.glob("*.yml")):
        yield from _read_rasa_test_set(path)


def _read_rasa_test_set(path: Path):
    """A Rasa NLU file named after its language; its intents are mapped onto the labels."""
    lines = path.read_text(encoding="utf-8").splitlines()
    data = yaml.safe_load("\n".join(lines)) or {}
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue
        label = INTENT_TO_LABEL.get(block["intent"], "other")
        for example in str(block.get("examples", "")).splitlines():
            text = example.strip()
            if not text.startswith("- "):
                continue
            text = text[2:].strip()
            number = next((i for i, line in enumerate(lines, start=1) if line.strip() == f"- {text}"), 0)
            yield {
                "file": path.name,
                "line": number,
                "text": text,
                "lang": path.stem,
                "label": label,
                "scored": True,
                "variant": None,
            }


def build_report(lines: list[dict]) -> dict:
    scored = [line for line in lines if line["scored"]]
    report = {
        "total": len(scored),
        "accuracy": _accuracy(scored),
        "per_file": _grouped(scored, "file"),
        "per_language": _grouped(scored, "lang"),
        "per_label": _per_label(scored),
        "confusion": _confusion(scored),
        "acting_on_no_request": _acting_rate(scored),
        "yes_no_full_words": _grouped(
            [line for line in scored if line["file"].startswith("yesno") and line["variant"] != "abbreviation"], "lang"
        ),
        "lines": lines,
    }
    return report


def _accuracy(lines: list[dict]) -> float:
    return round(sum(line["label"] == line["predicted"] for line in lines) / len(lines), 4) if lines else 0.0


def _grouped(lines: list[dict], key: str) -> dict:
    groups = defaultdict(list)
    for line in lines:
        groups[line[key]].append(line)
    return {name: {"n": len(items), "accuracy": _accuracy(items)} for name, items in sorted(groups.items())}


def _per_label(lines: list[dict]) -> dict:
    labels = sorted({line["label"] for line in lines} | {line["predicted"] for line in lines})
    result = {}
    for label in labels:
        true_positive = sum(1 for line in lines if line["label"] == label and line["predicted"] == label)
        actual = sum(1 for line in lines if line["label"] == label)
        predicted = sum(1 for line in lines if line["predicted"] == label)
        result[label] = {
            "n": actual,
            "recall": round(true_positive / actual, 4) if actual else None,
            "precision": round(true_positive / predicted, 4) if predicted else None,
        }
    return result


def _confusion(lines: list[dict]) -> dict:
    table = defaultdict(Counter)
    for line in lines:
        table[line["label"]][line["predicted"]] += 1
    return {label: dict(counts) for label, counts in sorted(table.items())}


def _acting_rate(lines: list[dict]) -> dict:
    """On lines that ask for nothing we act on, how often the model would have acted anyway."""
    neutral = [line for line in lines if line["label"] in ("out_of_scope", "other")]
    acted = sum(1 for line in neutral if line["predicted"] in ACTING_LABELS)
    return {"n": len(neutral), "rate": round(acted / len(neutral), 4) if neutral else 0.0}


def print_summary(report: dict, echo=print) -> None:
    echo(f"Overall: {report['accuracy']:.1%} of {report['total']} scored lines")
    echo("By file:")
    for name, row in report["per_file"].items():
        echo(f"  {name:42} {row['accuracy']:7.1%}  (n={row['n']})")
    echo("By language:")
    for name, row in report["per_language"].items():
        echo(f"  {name:12} {row['accuracy']:7.1%}  (n={row['n']})")
    echo("By label (recall / precision):")
    for name, row in report["per_label"].items():
        recall = "-" if row["recall"] is None else f"{row['recall']:.1%}"
        precision = "-" if row["precision"] is None else f"{row['precision']:.1%}"
        echo(f"  {name:14} {recall:>7} / {precision:>7}  (n={row['n']})")
    acting = report["acting_on_no_request"]
    echo(f"Acted on a line that asked for nothing we do: {acting['rate']:.1%} of {acting['n']}")
    yes_no = report["yes_no_full_words"]
    targets = report.get("target_languages") or sorted(yes_no)
    scored = {lang: row for lang, row in yes_no.items() if lang in targets}
    if scored:
        below = {lang: row for lang, row in scored.items() if row["accuracy"] < 0.98}
        shown = ", ".join(f"{lang} {row['accuracy']:.0%}" for lang, row in below.items()) or "none"
        echo(
            f"Yes/no full words in our languages: {len(scored) - len(below)} of {len(scored)} at 98% or more; "
            f"below: {shown}"
        )


@contextmanager
def _rasa_for_evaluation(runtime, progress):
    """The running Rasa server if there is one, else a private one for this evaluation."""
    if runtime.rasa.is_ready():
        yield runtime.rasa
        return
    progress = progress or stack.Progress()
    model = stack.ensure_model(progress)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = stack.start_rasa_server(model, port, "http://127.0.0.1:9/webhook", runtime.settings.var_dir / "logs")
    try:
        rasa = RasaClient(f"http://127.0.0.1:{port}", timeout=30)
        progress.note("… Loading the model for evaluation")
        if not rasa.wait_until_ready(300):
            raise stack.StackError("Rasa did not start; see var/logs/rasa.log")
        yield rasa
    finally:
        stack.stop([process])
