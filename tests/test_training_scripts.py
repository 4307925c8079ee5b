"""examples/translation/train*.sh, score.sh and scripts/runs_table.py: the
commands they build, their errors, and one real tiny run through all three."""

import json
import re
import shlex
import sys

import pytest

from cli import MULTI30K, REPO, run

EX = REPO / "examples/translation"
EXPERIMENTS = ["baseline", "rdrop", "kstep", "realformer", "realformer_rdrop"]


def dry_run(script, *args, **env):
    proc = run(["bash", EX / script, *args], env_extra={"DRY_RUN": "1", **env})
    return shlex.split(proc.stdout)


def flag(cmd, name):
    """The value of the last occurrence of --name (argparse's choice)."""
    idx = [i for i, c in enumerate(cmd) if c == name]
    assert idx, f"{name} not in {cmd}"
    return cmd[idx[-1] + 1]


def test_iwslt14_preset_is_the_papers_recipe():
    """Flag by flag, the official run_train.sh (dropreg/R-Drop,
    fairseq_src/examples/translation_rdrop/script/run_train.sh)."""
    cmd = dry_run("train.sh", "rdrop", "DATA", "SAVE", "7", "--max-epoch", "3", FP16="1")
    assert cmd[:2] == ["fairseq-train", "DATA"] and cmd[-2:] == ["--max-epoch", "3"]
    expected = {"--arch": "transformer_iwslt_de_en", "--criterion": "label_smoothed_cross_entropy_rdrop",
                "--rdrop-alpha": "5", "--optimizer": "adam", "--adam-betas": "(0.9, 0.98)",
                "--lr": "5e-4", "--lr-scheduler": "inverse_sqrt", "--warmup-updates": "4000",
                "--warmup-init-lr": "1e-07", "--dropout": "0.3", "--label-smoothing": "0.1",
                "--weight-decay": "1e-4", "--max-tokens": "4096", "--max-update": "300000", "--seed": "7",
                "--source-lang": "de", "--target-lang": "en", "--eval-bleu-detok": "moses",
                "--best-checkpoint-metric": "bleu", "--save-dir": "SAVE", "--log-format": "json"}
    for name, value in expected.items():
        assert flag(cmd, name) == value, name
    for switch in ("--share-all-embeddings", "--eval-bleu", "--eval-bleu-remove-bpe", "--fp16",
                   "--maximize-best-checkpoint-metric"):
        assert switch in cmd, switch
    # not in the official command: fairseq's defaults hold
    for absent in ("--eval-tokenized-bleu", "--required-batch-size-multiple", "--update-freq", "--clip-norm"):
        assert absent not in cmd, absent
    assert json.loads(flag(cmd, "--eval-bleu-args")) == {"beam": 5, "max_len_a": 1.2, "max_len_b": 10}
    assert "--fp16" not in dry_run("train.sh", "rdrop", "DATA", "SAVE", FP16="0")


@pytest.mark.parametrize("exp", EXPERIMENTS)
def test_wmt14_preset_is_the_authors_big_setting(exp):
    """Flag by flag, the setting the R-Drop authors gave for WMT14 En-De
    (github.com/dropreg/R-Drop/issues/19)."""
    cmd = dry_run("train.sh", exp, "DATA", "SAVE", PRESET="wmt14", FP16="1", ALPHA="5", K="2")
    expected = {"--arch": "transformer_realformer_wmt_en_de_big" if exp.startswith("realformer")
                else "transformer_vaswani_wmt_en_de_big",
                "--optimizer": "adam", "--adam-betas": "(0.9, 0.98)", "--lr": "1e-3",
                "--lr-scheduler": "inverse_sqrt", "--warmup-updates": "6000", "--warmup-init-lr": "1e-07",
                "--dropout": "0.1", "--attention-dropout": "0.1", "--activation-dropout": "0.1",
                "--weight-decay": "0.0", "--label-smoothing": "0.1", "--max-tokens": "4096",
                "--update-freq": "16", "--max-update": "300000", "--source-lang": "en", "--target-lang": "de",
                # not the authors': interval checkpoints, the resume guard's fallback (an epoch is ~4k updates)
                "--save-interval-updates": "1000", "--keep-interval-updates": "2"}
    for name, value in expected.items():
        assert flag(cmd, name) == value, name
    assert "--share-all-embeddings" in cmd and "--fp16" in cmd and "--eval-bleu" not in cmd
    if exp in ("rdrop", "kstep", "realformer_rdrop"):
        assert flag(cmd, "--criterion") == "label_smoothed_cross_entropy_rdrop" and flag(cmd, "--rdrop-alpha") == "5"
    else:
        assert flag(cmd, "--criterion") == "label_smoothed_cross_entropy"


def test_wmt14_big_models_build_with_the_presets_flags(tmp_path):
    """The two big architectures are the same Transformer-big under the preset's
    flags: same parameter count (RealFormer adds no parameters), and the dropouts
    in effect are the authors' 0.1 (the ReLU one included: the official
    command's --relu-dropout is today's --activation-dropout)."""
    import torch  # noqa: F401  (fairseq needs it)
    from fairseq import options, tasks

    dict_path = tmp_path / "dict.en.txt"
    dict_path.write_text("".join(f"w{i} 1\n" for i in range(100)))
    (tmp_path / "dict.de.txt").write_text(dict_path.read_text())
    counts = {}
    for arch in ("transformer_vaswani_wmt_en_de_big", "transformer_realformer_wmt_en_de_big"):
        cmd = dry_run("train.sh", "realformer" if "realformer" in arch else "baseline", str(tmp_path), "S",
                      PRESET="wmt14", FP16="0")
        parser = options.get_training_parser()
        args = options.parse_args_and_arch(parser, cmd[1:])
        task = tasks.setup_task(args)
        model = task.build_model(args)
        counts[arch] = sum(p.numel() for p in model.parameters())
        assert (args.encoder_embed_dim, args.encoder_ffn_embed_dim, args.encoder_attention_heads,
                args.encoder_layers, args.decoder_layers) == (1024, 4096, 16, 6, 6)
        for layer in (model.encoder.layers[0], model.decoder.layers[0]):  # the dropouts in effect
            assert (layer.dropout_module.p, layer.activation_dropout_module.p) == (0.1, 0.1)
            assert layer.self_attn.dropout_module.p == 0.1
    assert len(set(counts.values())) == 1


@pytest.mark.parametrize("exp", EXPERIMENTS)
def test_each_experiment_and_its_own_script(exp):
    cmd = dry_run("train.sh", exp, "D", "S", ALPHA="3", K="5")
    assert dry_run(f"train-{exp.replace('_', '-')}.sh", "D", "S", ALPHA="3", K="5") == cmd
    realformer = exp.startswith("realformer")
    assert flag(cmd, "--arch") == ("transformer_realformer_iwslt_de_en" if realformer
                                   else "transformer_iwslt_de_en")
    rdrop = exp in ("rdrop", "kstep", "realformer_rdrop")
    assert (flag(cmd, "--criterion") == "label_smoothed_cross_entropy_rdrop") == rdrop
    if rdrop:
        assert flag(cmd, "--rdrop-alpha") == "3"
    if exp == "kstep":
        assert flag(cmd, "--task") == "translation_rdrop" and flag(cmd, "--rdrop-k-step") == "5"
    else:
        assert flag(cmd, "--task") == "translation"


def test_simcut_and_rdrop_cutoff_experiments():
    simcut = dry_run("train.sh", "simcut", "D", "S")
    assert (flag(simcut, "--rdrop-alpha"), flag(simcut, "--cutoff-rate"), flag(simcut, "--cutoff-copies")) == \
        ("3", "0.05", "second")  # SimCut's published setting
    both = dry_run("train.sh", "rdrop_cutoff", "D", "S", CUTOFF="0.1")
    assert (flag(both, "--rdrop-alpha"), flag(both, "--cutoff-rate"), flag(both, "--cutoff-copies")) == \
        ("5", "0.1", "all")


def test_multi30k_preset_trains_updates_or_minutes():
    by_updates = dry_run("train.sh", "rdrop", "D", "S", PRESET="multi30k-cpu", UPDATES="1200")
    assert flag(by_updates, "--max-update") == "1200" and "--stop-time-hours" not in by_updates
    by_time = dry_run("train.sh", "rdrop", "D", "S", PRESET="multi30k-cpu", MINUTES="30")
    assert flag(by_time, "--stop-time-hours") == "0.5" and flag(by_time, "--max-update") == "100000"


def test_extra_flags_override_the_preset_and_tensorboard():
    cmd = dry_run("train.sh", "baseline", "D", "S", "--lr", "1e-4", TENSORBOARD_DIR="tb")
    assert flag(cmd, "--lr") == "1e-4" and flag(cmd, "--tensorboard-logdir") == "tb"


@pytest.mark.parametrize("script, args, env, message", [
    ("train.sh", ["transformer", "D", "S"], {},
     "EXPERIMENT: expected baseline, rdrop, kstep, schedule, realformer, realformer_rdrop, simcut or rdrop_cutoff, "
     "got 'transformer'"),
    ("train.sh", ["rdrop", "D", "S"], {"PRESET": "wmt"}, "PRESET: expected iwslt14, wmt14 or multi30k-cpu, got 'wmt'"),
    ("train.sh", ["rdrop", "D", "S"], {"FP16": "yes"}, "FP16: expected 1, 0 or auto, got 'yes'"),
    ("train.sh", ["simcut", "D", "S"], {"CUTOFF": "1.5"}, "CUTOFF: expected a cutoff rate in [0, 1), got '1.5'"),
    ("score.sh", ["D", "C", "R", "O"], {"PRESET": "wmt"}, "score.sh: PRESET: expected iwslt14, wmt14 or multi30k-cpu, got 'wmt'"),
    ("train.sh", ["rdrop", "D", "S"], {"PRESET": "multi30k-cpu", "MINUTES": "0"},
     "MINUTES: expected a number of minutes > 0, got '0'"),
    ("train.sh", ["rdrop", "D", "S"], {"PRESET": "multi30k-cpu", "VALID_EVERY": "ten"},
     "VALID_EVERY: expected a whole number of updates >= 1, got 'ten'"),
    ("train.sh", ["rdrop", "D", "S"], {"PRESET": "multi30k-cpu", "DEVICE": "gpu"},
     "train.sh: DEVICE: expected cpu or cuda, got 'gpu'"),
    ("sweep.sh", ["beta", "D", "S", "R"], {}, "expected alpha, k or all, got 'beta'"),
    ("sweep.sh", ["alpha", "D", "S", "R"], {"LANES": "0"}, "LANES: expected a whole number >= 1, got '0'"),
    ("sweep.sh", ["alpha", "D", "S", "R"], {"RUNS": "k_2"}, "RUNS: 'k_2' is not one of: alpha_1 alpha_3"),
    ("ablations-multi30k-cpu.sh", ["D", "S", str(MULTI30K)], {"UPDATES": "3e2"},
     "UPDATES: expected a whole number >= 1, got '3e2'"),
    ("train.sh", ["rdrop", "D", "S"], {"PRESET": "multi30k-cpu", "UPDATES": "0"},
     "train.sh: UPDATES: expected a whole number of updates >= 1, got '0'"),
    ("quickstart-multi30k.sh", [], {"UPDATES": "15min"},
     "quickstart: UPDATES: expected a whole number of updates >= 1, got '15min'"),
    ("quickstart-multi30k.sh", [], {"VOCAB": "8k"}, "quickstart: VOCAB: expected a whole number >= 1, got '8k'"),
    ("quickstart-multi30k.sh", [], {"MAX_TOKENS": "0"},
     "quickstart: MAX_TOKENS: expected a whole number >= 1, got '0'"),
    ("quickstart-multi30k.sh", [], {"LR": "0"}, "quickstart: LR: expected a number > 0, got '0'"),
    ("quickstart-multi30k.sh", [], {"ALPHA": "-1"}, "quickstart: ALPHA: expected a number >= 0, got '-1'"),
    ("quickstart-multi30k.sh", [], {"K_STEP": "0"}, "quickstart: K_STEP: expected a whole number >= 1, got '0'"),
    ("quickstart-multi30k.sh", [], {"DROPOUT": "1"}, "quickstart: DROPOUT: expected a probability in [0, 1), got '1'"),
    ("quickstart-multi30k.sh", [], {"DROPOUT": "-0.1"},
     "quickstart: DROPOUT: expected a probability in [0, 1), got '-0.1'"),
])
def test_bad_values_are_named(script, args, env, message):
    proc = run(["bash", EX / script, *args], check=False, env_extra={"DRY_RUN": "1", **env})
    assert proc.returncode == 2 and message in proc.stderr


def sweep_runs(stdout):
    """(name, fairseq-train command) per run of a DRY_RUN sweep."""
    runs, name = [], None
    for line in stdout.splitlines():
        if line.startswith("== "):
            name = line[3:]
        elif line.startswith("fairseq-train"):
            runs.append((name, shlex.split(line)))
    return runs


def test_ablations_are_the_twelve_runs_at_equal_updates():
    proc = run(["bash", EX / "ablations-multi30k-cpu.sh", "D", "S", MULTI30K], env_extra={"DRY_RUN": "1"})
    runs = sweep_runs(proc.stdout)
    assert [n for n, _ in runs] == ["alpha_10", "alpha_7", "alpha_5", "alpha_3", "alpha_1", "alpha_0",
                                    "realformer_rdrop", "k_2", "k_5", "k_10", "realformer", "baseline"]
    for name, cmd in runs:
        assert flag(cmd, "--max-update") == "300" and flag(cmd, "--save-dir") == f"S/{name}"
        if name.startswith("alpha_"):
            assert flag(cmd, "--rdrop-alpha") == name[6:] and flag(cmd, "--task") == "translation"
        if name.startswith("k_"):
            assert flag(cmd, "--rdrop-k-step") == name[2:] and flag(cmd, "--rdrop-alpha") == "5"
    assert "--rdrop-alpha" not in dict(runs)["realformer"]


def test_k_sweep_reuses_the_alpha_run_for_k_1():
    proc = run(["bash", EX / "sweep.sh", "k", "D", "S", "R", "3", "--fp16"], env_extra={"DRY_RUN": "1", "ALPHA": "3"})
    runs = sweep_runs(proc.stdout)
    assert [n for n, _ in runs] == ["alpha_3", "k_2", "k_5", "k_10"]
    assert all(cmd[-1] == "--fp16" and flag(cmd, "--seed") == "3" for _, cmd in runs)


@pytest.mark.slow
def test_tiny_real_run_trains_scores_and_tabulates(data_bin, tmp_path):
    """train.sh (multi30k-cpu preset, shrunk by extra flags), score.sh, runs_table.py."""
    save = tmp_path / "run"
    quick_bleu = ["--eval-bleu-args", '{"beam": 1, "max_len_a": 0, "max_len_b": 8}']
    run(["bash", EX / "train-rdrop.sh", data_bin, save, "1", "--encoder-embed-dim", "64",
         "--decoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128", "--decoder-ffn-embed-dim", "128",
         "--encoder-layers", "1", "--decoder-layers", "1", "--max-tokens", "1024", "--max-update", "4",
         "--validate-interval-updates", "2", "--save-interval-updates", "2", *quick_bleu],
        env_extra={"PRESET": "multi30k-cpu", "ALPHA": "1"})
    log = (save / "train.log").read_text()
    assert '"valid_bleu"' in log and '"train_kl_loss"' in log and (save / "checkpoint_best.pt").is_file()
    run(["bash", EX / "score.sh", data_bin, save / "checkpoint_best.pt", MULTI30K / "test.en",
         save / "test", "--cpu", "--beam", "1", "--max-len-a", "0", "--max-len-b", "8"])
    bleu = json.loads((save / "test" / "bleu.json").read_text())
    assert bleu["sentences"] == 1000 and 0 <= bleu["sacrebleu"] < 100
    # the tokenized BLEU is fairseq-generate's own (--scoring bleu), here live
    fairseq_bleu4 = re.search(r"BLEU4 = ([0-9.]+),", (save / "test/generate.txt").read_text()).group(1)
    assert bleu["tokenized_bleu"] == float(fairseq_bleu4)
    proc = run([sys.executable, REPO / "scripts/runs_table.py",
                f"tiny={save}", "--json", tmp_path / "runs.json"])
    (row,) = json.loads((tmp_path / "runs.json").read_text())
    assert row["updates"] == 4 and row["test_sacrebleu"] == bleu["sacrebleu"]
    assert "| tiny | 4 |" in proc.stdout
