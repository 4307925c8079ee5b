"""Cutoff / SimCut through the real fairseq-train on a Multi30k slice: each mode,
RealFormer, --rdrop-passes 3, the plain loss, k-step, and an exact resume."""

import pytest

import rdrop_fairseq
from cli import BIN, SMALL_MODEL, SMALL_REALFORMER, TRAIN_FLAGS, json_logs, run

CRIT = ["--criterion", "label_smoothed_cross_entropy_rdrop", "--user-dir", rdrop_fairseq.USER_DIR]
SIMCUT = ["--rdrop-alpha", "3", "--cutoff-rate", "0.05", "--cutoff-copies", "second"]


def train(data_bin, save, flags, updates):
    proc = run([BIN / "fairseq-train", data_bin, "--save-dir", save, "--max-update", str(updates)]
               + TRAIN_FLAGS + CRIT + flags + ["--log-interval", "1"])
    out = proc.stdout + proc.stderr
    return out, {int(r["num_updates"]): r for r in json_logs(out, "train_inner")}


@pytest.mark.parametrize("name, flags", [
    ("simcut", SMALL_MODEL + SIMCUT),
    ("rdrop_cutoff_span", SMALL_MODEL + ["--cutoff-rate", "0.1", "--cutoff-copies", "all", "--cutoff-mode", "span"]),
    ("realformer_3_passes_plain", SMALL_REALFORMER + ["--cutoff-rate", "0.1", "--cutoff-copies", "all",
                                                      "--rdrop-passes", "3", "--rdrop-loss-impl", "plain"]),
    ("kstep_simcut", SMALL_MODEL + SIMCUT + ["--task", "translation_rdrop", "--rdrop-k-step", "2"]),
])
@pytest.mark.slow
def test_each_mode_trains(data_bin, tmp_path, name, flags):
    _, log = train(data_bin, tmp_path, flags, 8)
    assert sorted(log) == list(range(1, 9))
    rdrop_updates = [r for r in log.values() if float(r["rdrop_frac"]) == 1.0]
    assert rdrop_updates and all(0 < float(r["cutoff_frac"]) < 0.3 for r in rdrop_updates)
    assert all(float(r["kl_loss"]) > 0 for r in rdrop_updates)
    if name.startswith("kstep"):
        assert [float(log[u]["rdrop_frac"]) for u in (1, 2, 3, 4)] == [1.0, 0.0, 1.0, 0.0]
    assert float(log[8]["loss"]) < float(log[1]["loss"])


@pytest.mark.slow
def test_resume_repeats_the_same_masks(data_bin, tmp_path):
    flags = SMALL_MODEL + SIMCUT + ["--save-interval-updates", "6"]
    _, straight = train(data_bin, tmp_path / "a", flags, 12)
    train(data_bin, tmp_path / "b", flags, 6)
    out, resumed = train(data_bin, tmp_path / "b", flags, 12)
    assert "@ 6 updates)" in out and sorted(resumed) == list(range(7, 13))
    for u in range(7, 13):
        for key in ("loss", "kl_loss", "cutoff_frac"):
            assert float(resumed[u][key]) == pytest.approx(float(straight[u][key]), abs=2e-3), (u, key)
