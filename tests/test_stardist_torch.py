"""StarDist in torch: targets and NMS round-trip a label image, ray-aware augmentation, the loss;
post-processing in the worker process matches it in-process and leaves no process behind."""

import subprocess
import sys

import numpy as np
import psutil
import pytest
import torch
from stardist import star_dist

from denoise2seg.data.synthetic_nuclei import synthetic_nuclei
from denoise2seg.metrics import average_precision
from denoise2seg.segmentation import postprocess_process
from denoise2seg.segmentation.networks import StarDistNet
from denoise2seg.nets import UNetSpec
from denoise2seg.segmentation.star_convex import (
    DIST,
    instances_from_stardist,
    random_dihedral_rays,
    ray_permutations,
    stardist_loss,
    stardist_targets,
)
from denoise2seg.segmentation.thresholds import optimise_stardist_thresholds


@pytest.fixture(scope="module")
def labels():
    return synthetic_nuclei((96, 96), n_objects=10, noise_sigma=0, seed=5)[2]


def test_targets_and_nms_reproduce_the_mask(labels):
    targets = stardist_targets(labels, 32)
    assert targets.shape == (34, 96, 96)
    assert np.all(targets[0] == 1)
    assert np.all((targets[1] > 0) == (labels > 0))
    predicted = instances_from_stardist(targets[1], targets[DIST:], prob_thresh=0.5, nms_thresh=0.4)
    assert average_precision(labels, predicted) > 0.9


@pytest.mark.parametrize("name, operation", [("flip_x", np.fliplr), ("flip_y", np.flipud), ("transpose", np.transpose)])
def test_ray_permutation_matches_star_dist_of_the_transformed_mask(labels, name, operation):
    dist = np.moveaxis(star_dist(labels, 32, mode="cpp"), -1, 0)
    expected = np.moveaxis(star_dist(np.ascontiguousarray(operation(labels)), 32, mode="cpp"), -1, 0)
    moved = np.stack([operation(d) for d in dist])[ray_permutations(32)[name]]
    inside = operation(labels) > 0
    assert np.mean(np.abs(moved - expected)[:, inside] < 0.5) > 0.99


def test_augmentation_keeps_targets_consistent(labels):
    targets = torch.as_tensor(np.stack([stardist_targets(labels, 32)] * 8))
    images = torch.as_tensor(np.stack([labels[None]] * 8).astype(np.float32))
    aug_images, aug_targets = random_dihedral_rays(images, targets, 32, generator=torch.Generator().manual_seed(0))
    assert len({tuple(im.flatten()[:200].tolist()) for im in aug_images}) > 2  # several symmetries drawn
    for image, target in zip(aug_images, aug_targets):
        moved_labels = image[0].numpy().astype(np.int32)
        expected = np.moveaxis(star_dist(moved_labels, 32, mode="cpp"), -1, 0)
        inside = moved_labels > 0
        assert np.mean(np.abs(target[DIST:].numpy() - expected)[:, inside] < 0.5) > 0.99


def test_loss_prefers_correct_output_and_ignores_unannotated_pixels(labels):
    valid = np.zeros(labels.shape, dtype=bool)
    valid[:48] = True
    targets = torch.as_tensor(stardist_targets(labels, 32, valid))[None]
    prob = targets[:, 1:2].clamp(1e-4, 1 - 1e-4)
    perfect = torch.cat([torch.log(prob / (1 - prob)), targets[:, DIST:]], dim=1)
    wrong = torch.zeros_like(perfect)
    assert stardist_loss(perfect, targets) < 0.5 * stardist_loss(wrong, targets)
    changed = perfect.clone()
    changed[..., 48:, :] = 5.0
    assert stardist_loss(changed, targets) == pytest.approx(float(stardist_loss(perfect, targets)))


def test_network_output_shape():
    net = StarDistNet(UNetSpec(depth=1, n_filters=4, out_channels=8), n_rays=16)
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 17, 32, 32)


@pytest.fixture(scope="module")
def noisy_outputs(labels):
    """``(1 + 32, Y, X)`` StarDist outputs: the targets of ``labels`` with noise, so that polygons overlap."""
    rng = np.random.default_rng(0)
    targets = stardist_targets(labels, 32)
    prob = np.clip(targets[1] + rng.normal(0, 0.15, labels.shape), 0, 1)
    dist = targets[DIST:] * rng.uniform(0.8, 1.3, targets[DIST:].shape)
    return np.concatenate([prob[None], dist]).astype(np.float32)


def test_worker_process_gives_the_in_process_results(labels, noisy_outputs):
    prob, dist = noisy_outputs[0], noisy_outputs[1:]
    for prob_thresh, nms_thresh in [(0.5, 0.4), (0.2, 0.3)]:
        in_process = instances_from_stardist(prob, dist, prob_thresh, nms_thresh)
        assert in_process.max() > 5
        assert np.array_equal(postprocess_process.stardist_instances(prob, dist, prob_thresh, nms_thresh), in_process)
    valid = np.zeros(labels.shape, dtype=bool)
    valid[8:80, 4:90] = True
    args = ([noisy_outputs, noisy_outputs[:, :64, :64]], [labels, labels[:64, :64]], [valid, valid[:64, :64]])
    assert postprocess_process.tune_stardist_thresholds(*args) == optimise_stardist_thresholds(*args)


def test_worker_process_reports_errors_and_restarts_after_a_kill(noisy_outputs):
    prob, dist = noisy_outputs[0], noisy_outputs[1:]
    expected = instances_from_stardist(prob, dist, 0.5, 0.4)
    with pytest.raises(AssertionError):  # stardist's own check that prob and dist have the same shape
        postprocess_process.stardist_instances(prob, dist[:, :10], 0.5, 0.4)
    assert np.array_equal(postprocess_process.stardist_instances(prob, dist, 0.5, 0.4), expected)
    workers = _worker_processes()
    assert len(workers) == 1
    workers[0].kill()
    workers[0].wait(timeout=10)
    with pytest.raises(postprocess_process.PostprocessError, match="ended unexpectedly"):
        postprocess_process.stardist_instances(prob, dist, 0.5, 0.4)
    assert np.array_equal(postprocess_process.stardist_instances(prob, dist, 0.5, 0.4), expected)
    assert len(_worker_processes()) == 1
    postprocess_process.shutdown()
    assert not _worker_processes()


def _worker_processes() -> list[psutil.Process]:
    """The live post-processing children of this process."""
    return [p for p in psutil.Process().children() if "postprocess_process" in " ".join(p.cmdline())]


def test_worker_process_ends_with_a_script_that_has_no_main_guard(tmp_path):
    """A plain script (no ``if __name__ == "__main__"``) is not re-run, and exits without leaving a process."""
    script = tmp_path / "segment.py"
    script.write_text(
        "import numpy as np, psutil\n"
        "from denoise2seg.segmentation.postprocess_process import stardist_instances\n"
        "print('run', flush=True)\n"
        "prob = np.zeros((32, 32), np.float32)\n"
        "prob[10:20, 10:20] = 0.9\n"
        "labels = stardist_instances(prob, np.full((8, 32, 32), 4, np.float32), 0.5, 0.4)\n"
        "print('labels', labels.max(), [p.pid for p in psutil.Process().children()], flush=True)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines.count("run") == 1
    counted, pids = lines[1].split(" ", 2)[1:]
    assert int(counted) >= 1
    worker_pids = [int(p) for p in pids.strip("[]").split(",")]
    assert worker_pids
    assert not any(psutil.pid_exists(pid) for pid in worker_pids)
