"""Multi-phase workflows as one event generator: CT denoise-pretraining and Pseudo-CT training.

Steps count over the whole run, events carry their phase, and closing the generator keeps
every finished phase's model untouched and the running phase's model loadable.
"""

import hashlib

import pytest

from denoise2seg.ct import CTLesionModel, train_ct
from denoise2seg.ct.lowdose import DenoiserConfig, DoseSimulation, NoiseModelConfig, PseudoCTFolder, simulated_subjects, train_pseudo_ct
from denoise2seg.ct.workflow import FINETUNE_PHASE, PRETEXT_FOLDER, PRETEXT_PHASE, SEGMENTATION_FOLDER
from denoise2seg.io.model_folder import read_model_config
from denoise2seg.training import Phase, TrainingEvent, run_phases
from test_ct_pretrain import _tiny, _toy_volumes


def checksums(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def counting_phase(label, n_steps, log):
    def start():
        try:
            for step in range(1, n_steps + 1):
                yield TrainingEvent("step", step, n_steps, 1, train_loss=float(step))
            yield TrainingEvent("done", n_steps, n_steps, 1)
        finally:
            log.append(label)

    return Phase(label, n_steps, start)


def test_run_phases_counts_steps_over_the_run_and_closes_the_running_phase():
    log = []
    events = list(run_phases([counting_phase("a", 3, log), counting_phase("b", 2, log)]))
    assert [(e.phase, e.step, e.total_steps) for e in events if e.kind == "step"] == [
        ("a", 1, 5), ("a", 2, 5), ("a", 3, 5), ("b", 4, 5), ("b", 5, 5)
    ]
    assert [e.kind for e in events].count("done") == 1 and events[-1].kind == "done"
    log.clear()
    stream = run_phases([counting_phase("a", 3, log), counting_phase("b", 2, log)])
    next(stream)
    stream.close()
    # the running phase was closed (its finally ran); the next one never started
    assert log == ["a"]


def test_ct_workflow_pretext_then_finetuning(tmp_path):
    volumes, labels = _toy_volumes(3, z=4)
    config = _tiny(pretext_loss="mse", pretext_epochs=1, finetune_epochs=2, steps_per_epoch=3)
    events = list(train_ct(volumes[:1], volumes[1:], labels[1:], config, out_dir=tmp_path, device="cpu", preview_volume=volumes[2]))
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == list(range(1, 3 + 6 + 1)) and {e.total_steps for e in steps} == {9}
    assert [e.phase for e in steps] == [PRETEXT_PHASE] * 3 + [FINETUNE_PHASE] * 6
    assert read_model_config(tmp_path / PRETEXT_FOLDER, kind="ct_pretext")
    record = read_model_config(tmp_path / SEGMENTATION_FOLDER)
    assert record["pretrained_from"] == str(tmp_path / PRETEXT_FOLDER)
    assert CTLesionModel.load(tmp_path / SEGMENTATION_FOLDER, device="cpu").predict(volumes[2]).shape == volumes[2].shape


def test_stopping_the_ct_workflow_keeps_the_finished_pretext(tmp_path):
    volumes, labels = _toy_volumes(2, z=4)
    config = _tiny(pretext_loss="mse", pretext_epochs=1, finetune_epochs=50, steps_per_epoch=3)
    events = train_ct([], volumes, labels, config, out_dir=tmp_path, device="cpu")
    pretext = None
    for event in events:
        if event.phase == FINETUNE_PHASE and pretext is None:
            pretext = checksums(tmp_path / PRETEXT_FOLDER)
        if event.phase == FINETUNE_PHASE and event.step >= 5:
            break
    events.close()
    assert checksums(tmp_path / PRETEXT_FOLDER) == pretext
    assert CTLesionModel.load(tmp_path / SEGMENTATION_FOLDER, device="cpu").predict(volumes[0]).shape == volumes[0].shape

    stopped = train_ct([], volumes, labels, config, out_dir=tmp_path / "early", device="cpu")
    assert next(stopped).phase == PRETEXT_PHASE
    stopped.close()
    assert (tmp_path / "early" / PRETEXT_FOLDER / "config.json").is_file()
    assert not (tmp_path / "early" / SEGMENTATION_FOLDER).exists()


@pytest.fixture(scope="module")
def subjects():
    return simulated_subjects(["neck", "neck"], n_slices=1, dose=DoseSimulation(n_views=60), seed=0)


def test_pseudo_ct_workflow_writes_its_folder_and_stops_between_networks(tmp_path, subjects):
    common = dict(epochs=1, steps_per_epoch=2, batch_size=2, patch_size=32, seed=0)
    denoiser, noise = DenoiserConfig(n_filters=4, **common), NoiseModelConfig(n_filters=4, **common)
    events = list(train_pseudo_ct(subjects, denoiser, noise, out_dir=tmp_path / "all", device="cpu", single_noise_model=True))
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == list(range(1, 4 * 2 + 1))
    assert [e.phase for e in steps][::2] == ["denoiser (n2c)"] + [f"noise model {s.name}" for s in subjects] + ["noise model (all subjects)"]
    folder = PseudoCTFolder(tmp_path / "all")
    assert folder.load_denoiser("cpu") and len(folder.load_noise_models("ensemble", "cpu")) == 2
    assert len(folder.load_noise_models("model+hist", "cpu")) == 1

    stopped = train_pseudo_ct(subjects, denoiser, noise, out_dir=tmp_path / "stopped", device="cpu")
    for event in stopped:
        if event.phase.startswith("noise model"):
            break
    stopped.close()
    folder = PseudoCTFolder(tmp_path / "stopped")
    assert folder.load_denoiser("cpu")
    assert [m.name for m in folder.load_noise_models("ensemble", "cpu")] == [subjects[0].name]


def test_pseudo_ct_workflow_refuses_subjects_that_share_a_folder(tmp_path, subjects):
    twins = [subjects[0], subjects[0]]
    with pytest.raises(ValueError, match="distinct names"):
        train_pseudo_ct(twins, out_dir=tmp_path)
