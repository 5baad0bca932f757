"""Output locations: distinct result names, and refusals of outputs that exist, are inputs or cannot be written."""

import re

import pytest

from denoise2seg.io.outputs import OutputLocationError, check_output_files, check_output_folder, unique_output_paths


def test_unique_output_paths_number_repeated_names_in_order():
    names = [p.name for p in unique_output_paths(["a/img.tif", "b/IMG.tif", "c/img.tiff", "d.tif"], "out", suffix="_n2v")]
    assert names == ["img_n2v.tif", "IMG_n2v-2.tif", "img_n2v-3.tif", "d_n2v.tif"]


def test_unique_output_paths_skip_a_number_another_source_claims():
    names = [p.name for p in unique_output_paths(["x/img.tif", "img-2.tif", "y/img.tif"], "out", suffix="")]
    assert names == ["img.tif", "img-2.tif", "img-3.tif"]


def test_a_new_or_empty_folder_is_accepted(tmp_path):
    assert check_output_folder(tmp_path / "new" / "model") == tmp_path / "new" / "model"
    (tmp_path / "empty").mkdir()
    assert check_output_folder(tmp_path / "empty") == tmp_path / "empty"
    assert not (tmp_path / "new").exists()


def test_a_folder_holding_something_needs_overwrite(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    with pytest.raises(OutputLocationError, match=r"not empty \(1 entry: config.json\); tick Overwrite"):
        check_output_folder(tmp_path / "model", overwrite_hint="tick Overwrite")
    assert check_output_folder(tmp_path / "model", overwrite=True) == tmp_path / "model"


def test_an_input_is_never_an_output(tmp_path):
    (tmp_path / "n2v").mkdir()
    (tmp_path / "img.tif").write_bytes(b"image")
    (tmp_path / "link.tif").symlink_to(tmp_path / "img.tif")
    with pytest.raises(OutputLocationError, match="is also an input"):
        check_output_folder(tmp_path / "n2v", overwrite=True, inputs=[tmp_path / "n2v"])
    with pytest.raises(OutputLocationError, match="inside the input folder"):
        check_output_folder(tmp_path / "n2v" / "seg", overwrite=True, inputs=[tmp_path / "n2v"])
    with pytest.raises(OutputLocationError, match="is also an input"):
        check_output_files([tmp_path / "link.tif"], overwrite=True, inputs=[tmp_path / "img.tif"])
    assert check_output_files([tmp_path / "n2v" / "img_n2v.tif"], inputs=[tmp_path / "n2v"]) == [tmp_path / "n2v" / "img_n2v.tif"]


def test_output_files_that_exist_collide_or_are_folders(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"old")
    with pytest.raises(OutputLocationError, match="already exists; pass --overwrite"):
        check_output_files([tmp_path / "b.tif", tmp_path / "a.tif"])
    assert check_output_files([tmp_path / "a.tif"], overwrite=True) == [tmp_path / "a.tif"]
    with pytest.raises(OutputLocationError, match="same file"):
        check_output_files([tmp_path / "c.tif", tmp_path / "C.tif"])
    with pytest.raises(OutputLocationError, match="is a folder, not a file"):
        check_output_files([tmp_path], overwrite=True)


def test_a_file_in_the_way_is_named(tmp_path):
    (tmp_path / "notes").write_text("x")
    with pytest.raises(OutputLocationError, match=re.escape(f"{tmp_path / 'notes'} is a file, not a folder")):
        check_output_folder(tmp_path / "notes", overwrite=True)
    with pytest.raises(OutputLocationError, match=re.escape(f"{tmp_path / 'notes'} is a file, so")):
        check_output_files([tmp_path / "notes" / "sub" / "a.tif"])
