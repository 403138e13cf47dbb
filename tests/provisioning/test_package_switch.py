"""The package's postinst switching /opt/samplepoint/venv to a new environment: a failure after the
switch links the previous environment again and restarts the services into it, a failure before
leaves it alone, and a success keeps the current and the previous environments only.

The real script runs under sh with its paths moved into a temporary folder and stand-ins for
python3 (the venv), the new version's samplepoint and systemctl; the booted update test
(test_booted_update.py) runs the same script through dpkg on a booted device."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provisioning import debpackage

NEW, OLD, OLDER = "0.1.0.3", "0.1.0.2", "0.1.0.1"

PYTHON3 = """#!/bin/sh
# python3 -m venv --system-site-packages DIR
dir="$4"; mkdir -p "$dir/bin"
printf '#!/bin/sh\\nexit 0\\n' > "$dir/bin/pip"
cat > "$dir/bin/samplepoint" <<'EOF'
#!/bin/sh
echo "samplepoint $*" >> "$LOG"
case "$1" in
config) exit "${CHECK_EXIT:-0}" ;;
provision) exit "${PROVISION_EXIT:-0}" ;;
esac
EOF
chmod +x "$dir/bin/pip" "$dir/bin/samplepoint"
"""

SYSTEMCTL = """#!/bin/sh
echo "systemctl $* -> $(readlink "$LINK")" >> "$LOG"
if [ "$1" = try-restart ] && [ "$(readlink "$LINK")" = "venvs/$FAILS_IN" ]; then exit 1; fi
exit 0
"""


@pytest.fixture
def device(tmp_path):
    """/opt/samplepoint with OLD linked (OLDER kept from before), a config, and the stand-ins."""
    opt = tmp_path / "opt/samplepoint"
    for version in (OLD, OLDER):
        (opt / "venvs" / version / "bin").mkdir(parents=True)
        (opt / "venvs" / version / ".complete").touch()
    (opt / "venv").symlink_to(f"venvs/{OLD}")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/samplepoint.toml").write_text("")
    (tmp_path / "run-systemd").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("python3", PYTHON3), ("systemctl", SYSTEMCTL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    script = debpackage.maintainer_script("postinst", NEW)
    for real, moved in (("/opt/samplepoint", opt), ("/etc/samplepoint/samplepoint.toml",
                                                    tmp_path / "etc/samplepoint.toml"),
                        ("/run/systemd/system", tmp_path / "run-systemd")):
        script = script.replace(real, str(moved))
    assert "/opt/" not in script.replace(str(opt), "")
    (tmp_path / "postinst").write_text(script)
    return tmp_path, opt


def configure(device, **env) -> tuple[subprocess.CompletedProcess, list[str]]:
    tmp_path, opt = device
    log = tmp_path / "log"
    done = subprocess.run(["sh", str(tmp_path / "postinst"), "configure", OLD], capture_output=True,
                          text=True, env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
                                          "LOG": str(log), "LINK": str(opt / "venv"), **env})
    return done, log.read_text().splitlines() if log.exists() else []


def linked(opt: Path) -> str:
    return os.readlink(opt / "venv")


def test_a_success_switches_and_keeps_the_previous_environment_only(device):
    done, log = configure(device)
    assert done.returncode == 0, done.stdout + done.stderr
    opt = device[1]
    assert linked(opt) == f"venvs/{NEW}"
    assert sorted(p.name for p in (opt / "venvs").iterdir()) == [OLD, NEW]
    assert f"systemctl try-restart samplepoint-kiosk.service" in " ".join(log)


@pytest.mark.parametrize("env, said", [
    ({"PROVISION_EXIT": "5"}, ""),
    ({"FAILS_IN": NEW}, f"a service did not start as {NEW}"),
], ids=["provision-fails", "a-service-does-not-start"])
def test_a_failure_after_the_switch_links_the_previous_environment_again(device, env, said):
    done, log = configure(device, **env)
    opt = device[1]
    assert done.returncode != 0, "dpkg must see the failure"
    assert linked(opt) == f"venvs/{OLD}"
    assert f"samplepoint: the switch to {NEW} failed: {opt}/venv points to {OLD} again" in done.stdout
    assert said in done.stdout
    restarts = [line for line in log if line.startswith("systemctl try-restart")]
    assert restarts[-1].endswith(f"-> venvs/{OLD}"), "the services come back on the old version"
    assert (opt / "venvs" / OLD / ".complete").exists()
    assert f"version {NEW} installed" not in done.stdout


def test_a_version_that_refuses_the_config_never_switches(device):
    done, log = configure(device, CHECK_EXIT="1")
    opt = device[1]
    assert done.returncode == 1 and linked(opt) == f"venvs/{OLD}"
    assert not [line for line in log if line.startswith("systemctl")], "nothing was restarted"
    assert "points to" not in done.stdout
    assert sorted(p.name for p in (opt / "venvs").iterdir()) == [OLDER, OLD, NEW], "nothing pruned"
