"""Where MAAS's deb packages come from: the mirror's apt line, the PPA already present, and
the series each MAAS version is built for."""

from pyinfra.facts.apt import AptSources, parse_apt_repo

from deploys.packages import mirror_source_line, ppa_present, series_problem

JAMMY = {"id": "ubuntu", "version_id": "22.04", "codename": "jammy"}


def test_a_mirror_line_is_used_as_it_is():
    line = "deb [trusted=yes] file:/srv/labrepo/maas ./"
    assert mirror_source_line(line, "jammy") == line


def test_a_mirror_url_is_laid_out_like_the_ppa_for_the_host_series():
    assert mirror_source_line("http://mirror/maas/3.5/ubuntu", "jammy") == "deb http://mirror/maas/3.5/ubuntu jammy main"


def test_the_ppa_is_found_in_a_list_file():
    sources = [parse_apt_repo("deb http://archive.ubuntu.com/ubuntu jammy main"),
               parse_apt_repo("deb https://ppa.launchpadcontent.net/maas/3.5/ubuntu/ jammy main")]
    assert ppa_present(sources, "3.5")
    assert not ppa_present(sources, "3.6")


def test_the_ppa_is_found_in_a_deb822_file():
    """apt-add-repository on noble writes a .sources file."""
    output = ["##PYINFRA_FILE /etc/apt/sources.list.d/maas-ubuntu-3_6-noble.sources",
              "Types: deb", "URIs: https://ppa.launchpadcontent.net/maas/3.6/ubuntu/", "Suites: noble",
              "Components: main", "Signed-By: /etc/apt/keyrings/maas.gpg", ""]
    assert ppa_present(AptSources().process(output), "3.6")


def test_no_sources_no_ppa():
    assert not ppa_present([], "3.5")
    assert not ppa_present(None, "3.5")


def test_a_mirror_of_the_ppa_elsewhere_is_not_the_ppa():
    assert not ppa_present([parse_apt_repo("deb http://mirror/maas/3.5/ubuntu jammy main")], "3.5")


def test_series_per_version():
    assert series_problem("3.4", JAMMY) is None
    assert series_problem("3.5", JAMMY) is None
    assert series_problem("3.6", {**JAMMY, "codename": "noble"}) is None
    assert series_problem("3.6", JAMMY).startswith("MAAS 3.6 deb packages are built for Ubuntu noble only, "
                                                   "but this host runs ubuntu jammy")


def test_unknown_system():
    assert "this host runs an unknown system (no os-release)" in series_problem("3.5", {})
