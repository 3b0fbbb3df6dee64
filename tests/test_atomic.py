"""rtadt.atomic: readers see the old file or the complete new one."""
import pytest

from rtadt.atomic import atomic_path, write_bytes, write_text


def test_a_write_replaces_the_target_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_text(target, "old")
    write_text(target, "new")
    assert target.read_text() == "new"
    write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "complete")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            assert tmp.parent == target.parent and tmp != target
            raise RuntimeError("disk full")
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_the_temporary_name_keeps_a_suffix_for_writers_that_choose_a_format_by_it(tmp_path):
    with atomic_path(tmp_path / "a.flac", suffix=".flac") as tmp:
        assert tmp.suffix == ".flac"
        tmp.write_bytes(b"x")
    assert (tmp_path / "a.flac").read_bytes() == b"x"
