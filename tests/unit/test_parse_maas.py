"""MaasInstall's parsing as plain data: command output in, the install's summary out."""

from facts._parse_maas import installed_debs, install_summary, maas_snap, parse_install, sections

OUTPUT = """##dpkg
maas-region-api install ok installed 1:3.5.13-0ubuntu1
maas-rack-controller deinstall ok config-files 1:3.5.12-0ubuntu1
##snap

##mode

""".splitlines()


def test_sections_split_on_marker_lines_and_drop_blank_ones():
    assert sections(["ignored", "##a", " x ", "", "##b", "##a", "y"]) == {"a": ["x", "y"], "b": []}


def test_only_installed_packages_count():
    assert installed_debs(sections(OUTPUT)["dpkg"]) == {"maas-region-api": "1:3.5.13-0ubuntu1"}


def test_deb_region_only():
    assert parse_install(OUTPUT) == {
        "flavour": "deb", "flavours": ["deb"], "version": "3.5.13", "series": "3.5",
        "package_version": "1:3.5.13-0ubuntu1", "mode": "region", "snap_channel": None,
    }


SNAP_LIST = ["Name  Version                   Rev    Tracking     Publisher   Notes",
             "maas  3.5.13-16524-g.5f3c2e1a7  38147  3.5/stable   canonical✓  -"]


def test_snap_channel_from_the_list_or_from_snap_info_for_a_branch():
    assert maas_snap(SNAP_LIST) == ("3.5.13-16524-g.5f3c2e1a7", "3.5/stable")
    assert maas_snap([*SNAP_LIST[:1], SNAP_LIST[1].replace("3.5/stable", "3.5/stable/…"),
                      "tracking:     3.5/stable/hotfix"])[1] == "3.5/stable/hotfix"


def test_snap_mode_and_channel_checked():
    summary = install_summary({}, "3.5.13-16524-g.5f3c2e1a7", "3.5/stable", "region+rack")
    assert (summary["flavour"], summary["mode"], summary["snap_channel"]) == ("snap", "region+rack", "3.5/stable")
    assert install_summary({}, "3.5.13", "latest/edge", "bogus")["mode"] == "none"
    assert install_summary({}, "3.5.13", "a b", "rack")["snap_channel"] is None  # not a channel


def test_both_flavours_are_reported_deb_first():
    summary = install_summary({"maas-rack-controller": "1:3.4.2-0ubuntu1"}, "3.5.13", "3.5/stable", "rack")
    assert summary["flavours"] == ["deb", "snap"]
    assert (summary["flavour"], summary["mode"], summary["series"]) == ("deb", "rack", "3.4")


def test_nothing_installed():
    assert parse_install(["##dpkg", "##snap", "##mode", ""]) == {
        "flavour": None, "flavours": [], "version": None, "series": None,
        "package_version": None, "mode": "none", "snap_channel": None,
    }
