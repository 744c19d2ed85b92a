"""`eval-nlu`: the report's shape and numbers, on small files written here."""

import json

from service.evaluation import build_report


def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")


def test_report_counts_accuracy_per_file_language_and_label():
    lines = [
        {
            "file": "a.jsonl",
            "line": 1,
            "lang": "en",
            "label": "confirm",
            "predicted": "confirm",
            "scored": True,
            "variant": None,
        },
        {
            "file": "a.jsonl",
            "line": 2,
            "lang": "en",
            "label": "cancel",
            "predicted": "rebook",
            "scored": True,
            "variant": None,
        },
        {
            "file": "b.jsonl",
            "line": 1,
            "lang": "pl",
            "label": "out_of_scope",
            "predicted": "cancel",
            "scored": True,
            "variant": None,
        },
        {
            "file": "b.jsonl",
            "line": 2,
            "lang": "pl",
            "label": "other",
            "predicted": "other",
            "scored": False,
            "variant": None,
        },
    ]
    report = build_report(lines)
    assert report["total"] == 3
    assert report["accuracy"] == round(1 / 3, 4)
    assert report["per_file"]["a.jsonl"] == {"n": 2, "accuracy": 0.5}
    assert report["per_language"]["pl"] == {"n": 1, "accuracy": 0.0}
    assert report["per_label"]["cancel"] == {"n": 1, "recall": 0.0, "precision": 0.0}
    assert report["confusion"]["cancel"] == {"rebook": 1}
    assert report["acting_on_no_request"] == {"n": 1, "rate": 1.0}
    assert len(report["lines"]) == 4


def test_eval_nlu_command_writes_one_line_per_input_with_the_real_model(assistant, live_app, tmp_path):
    write_jsonl(
        tmp_path / "sample.jsonl",
        [
            {"text": "yes", "lang": "en", "label": "confirm"},
            {"text": "please cancel my appointment", "lang": "en", "label": "cancel"},
            {"text": "March 2nd", "lang": "en", "label": "other", "use": "datetime_extraction_only"},
        ],
    )
    (tmp_path / "pl.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: affirm\n  examples: |\n    - tak\n', encoding="utf-8"
    )
    report_path = tmp_path / "report.json"
    result = live_app.test_cli_runner().invoke(args=["eval-nlu", str(tmp_path), "--report", str(report_path)])
    assert result.exit_code == 0, result.output
    assert "Overall:" in result.output

    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert [(line["file"], line["line"]) for line in report["lines"]] == [
        ("sample.jsonl", 1),
        ("sample.jsonl", 2),
        ("sample.jsonl", 3),
        ("pl.yml", 5),
    ]
    first = report["lines"][0]
    assert set(first) >= {"file", "line", "lang", "label", "predicted", "confidence"}
    assert first["predicted"] == "confirm"
    assert report["lines"][1]["predicted"] == "cancel"
    assert report["lines"][2]["scored"] is False
    assert report["total"] == 3
