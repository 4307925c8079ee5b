"""scripts/gpu_hours.py's hours from a GPU measurement (--measured): which
benchmark configurations make each run's s/update, the range over the
benchmark's runs, runs it cannot price, and measurements it must refuse."""

import json

import pytest

from cli import REPO

from rdrop_analysis import gpu_hours


def measurement(tmp_path, times, **over):
    data = {"device": "cuda", "device_name": "Some GPU", "precision": "fp16", "torch": "2.x",
            "max_tokens": 4096, "full_size": True, "runs": 2, "complete": True,
            "runs_raw": {c: [{"s_per_update": t} for t in ts] for c, ts in times.items()}}
    data.update(over)
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data))
    return path


def test_hours_per_run_from_the_measured_configurations(tmp_path):
    path = measurement(tmp_path, {"ls@N": [0.05, 0.07], "rdrop@N": [0.10, 0.14], "realformer@N": [0.06]})
    m = gpu_hours.measured_hours("iwslt14", ["baseline", "alpha_7", "k_4", "realformer", "realformer_rdrop",
                                             "passes_3"], gpu_hours.load_measurement("iwslt14", path),
                                 gpus_per_run=2)
    rows = {r["run"]: r for r in m["runs"]}
    assert rows["baseline"]["s_per_update"] == pytest.approx(0.06)  # median of the two runs
    assert rows["baseline"]["hours"] == pytest.approx(300_000 * 0.06 / 3600, abs=0.05)
    assert (rows["baseline"]["hours_min"], rows["baseline"]["hours_max"]) == (
        pytest.approx(300_000 * 0.05 / 3600, abs=0.05), pytest.approx(300_000 * 0.07 / 3600, abs=0.05))
    assert rows["alpha_7"]["s_per_update"] == pytest.approx(0.12)
    # k = 4: three plain updates and one R-Drop update in every four
    assert rows["k_4"]["s_per_update"] == pytest.approx((3 * 0.06 + 0.12) / 4)
    assert rows["k_4"]["s_per_update_max"] == pytest.approx((3 * 0.07 + 0.14) / 4)
    assert rows["baseline"]["gpu_hours"] == pytest.approx(2 * rows["baseline"]["hours"])
    assert rows["realformer_rdrop"]["not_measured"] == ["realformer_rdrop@N"]
    assert rows["passes_3"]["not_measured"] == "no benchmark configuration"
    assert m["runs_not_measured"] == ["realformer_rdrop", "passes_3"]
    assert m["total_gpu_hours"] == pytest.approx(sum(rows[r]["gpu_hours"] for r in
                                                     ("baseline", "alpha_7", "k_4", "realformer")), abs=0.2)


def test_the_committed_h100_measurement_prices_the_iwslt14_sweep(tmp_path, capsys):
    out = tmp_path / "hours.json"
    gpu_hours.main(["iwslt14", "baseline", "alpha_5", "k_2", "--json", str(out),
                    "--measured", str(REPO / "docs/results/gpu/benchmark_h100_cudnn_off.json")])
    m = json.loads(out.read_text())["measured"]
    assert m["device_name"] == "NVIDIA H100 80GB HBM3" and not m["runs_not_measured"]
    rows = {r["run"]: r for r in m["runs"]}
    assert rows["baseline"]["hours"] < rows["k_2"]["hours"] < rows["alpha_5"]["hours"]
    assert "| alpha_5 | 0.0678 |" in capsys.readouterr().out


@pytest.mark.parametrize("preset, over, message", [
    ("wmt14", {}, "there is none for wmt14"),
    ("iwslt14", {"device": "cpu"}, "expected a measurement with --device cuda, got device 'cpu'"),
    ("iwslt14", {"full_size": False}, "expected a measurement with --full-size"),
    ("iwslt14", {"max_tokens": 2048}, "expected --max-tokens 4096 as the iwslt14 preset's, got 2048"),
    ("iwslt14", {"runs_raw": None}, "not benchmark.py's JSON"),
])
def test_measurements_of_another_setting_are_refused(tmp_path, preset, over, message):
    path = measurement(tmp_path, {"ls@N": [0.05]}, **over)
    with pytest.raises(SystemExit) as e:
        gpu_hours.main([preset, "baseline", "--measured", str(path)])
    assert f"gpu_hours: --measured {path}: " in str(e.value) and message in str(e.value)


def test_an_unreadable_measurement_is_named(tmp_path):
    path = tmp_path / "missing.json"
    with pytest.raises(SystemExit) as e:
        gpu_hours.main(["iwslt14", "baseline", "--measured", str(path)])
    assert f"--measured {path}: cannot read it as benchmark.py's JSON" in str(e.value)
