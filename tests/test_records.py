"""scripts/records.py: what the measuring scripts write about the machine beside their figures."""

import platform

import pytest

from tests.script_modules import load_script

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 167
model name\t: Intel(R) Xeon(R) Processor

processor\t: 1
cpu family\t: 6
model\t\t: 999
"""


def fake_host(tmp_path, sizes: dict[int, str]):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    for index, (level, size) in enumerate(sizes.items()):
        folder = tmp_path / "cache" / f"index{index}"
        folder.mkdir(parents=True)
        (folder / "level").write_text(f"{level}\n")
        (folder / "size").write_text(f"{size}\n")
    return tmp_path / "cpuinfo", tmp_path / "cache"


def test_host_details_name_the_first_cpu_and_its_last_level_cache(tmp_path):
    host_details = load_script("records").host_details
    assert host_details(*fake_host(tmp_path, {1: "48K", 2: "2048K", 3: "491520K"})) == "family 6 model 167, L3 480 MiB"


def test_host_details_keep_a_size_that_is_not_whole_mebibytes_and_read_levels_as_numbers(tmp_path):
    host_details = load_script("records").host_details
    # index order is not level order, and level 10 sorts after level 9 as a number, not as text
    assert host_details(*fake_host(tmp_path, {10: "1536K", 9: "512K"})) == "family 6 model 167, L10 1536K"


def test_host_details_without_cpuinfo_or_caches(tmp_path):
    host_details = load_script("records").host_details
    assert host_details(tmp_path / "missing", tmp_path) is None
    cpuinfo, cache = fake_host(tmp_path, {})
    assert host_details(cpuinfo, cache) == "family 6 model 167"


def test_host_details_of_a_cpu_that_names_no_family(tmp_path):
    host_details = load_script("records").host_details
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n")
    assert host_details(tmp_path / "cpuinfo", tmp_path / "none") is None


@pytest.mark.skipif(platform.system() != "Linux" or platform.machine() != "x86_64",
                    reason="reads an x86 CPU's family and model from /proc")
def test_host_details_on_this_machine():
    assert load_script("records").host_details().startswith("family ")
