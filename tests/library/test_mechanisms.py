"""``patch.load_mechanisms``: a mod folder compiled once (cached by content) and loaded,
in a script, under mpiexec and in the plugin alike."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import session_zygote

from patch._mods import build, source_hash
from patch.exceptions import ModCompileError

# Slow (nrnivmodl builds): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

MOD = """
NEURON {
    POINT_PROCESS Leaky
    POINTER drive
    RANGE g, seen
    NONSPECIFIC_CURRENT i
}
PARAMETER { g = 0 (uS) }
ASSIGNED { v (mV) i (nA) drive seen }
BREAKPOINT { seen = drive  i = g * v }
"""

MODEL = """
import sys
import patch
from patch import p

build = patch.load_mechanisms("mod")
cell = p.Section(name="cell")
leak = p.Leaky(cell)
if "--unset" not in sys.argv:
    leak._ref_drive = cell(0.5)._ref_v
try:
    p.run(1)
    # One write per rank, so that the two ranks' lines do not interleave.
    print(f"rank {p.parallel.rank} compiled {build.compiled} seen {round(leak.seen, 3)}", flush=True)
except patch.PatchError as error:
    print(type(error).__name__, error)
"""


def run(args, cwd, **kwargs):
    result = session_zygote.run(args, cwd=cwd, timeout=300, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def repository(tmp_path):
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "leaky.mod").write_text(MOD)
    (tmp_path / "model.py").write_text(MODEL)
    return tmp_path


def mpiexec():
    return os.path.join(os.path.dirname(sys.executable), "mpiexec")


def test_a_script_a_parallel_script_and_the_plugin_share_one_build(repository):
    first = run([sys.executable, "model.py"], repository)
    assert "rank 0 compiled True seen -65.0" in first
    builds = list((repository / ".nrn-mod-cache").iterdir())
    assert len(builds) == 1
    assert "rank 0 compiled False" in run([sys.executable, "model.py"], repository)
    ranks = run([mpiexec(), "-n", "2", sys.executable, "model.py"], repository)
    # The ranks' lines may run together: read them as a whole.
    found = sorted(re.findall(r"rank (\d) compiled (\w+)", ranks))
    assert found == [("0", "False"), ("1", "False")], ranks
    (repository / "pytest.ini").write_text("[pytest]\nnrn_mod_dirs = mod\n")
    (repository / "test_leaky.py").write_text(
        "def test_leaky(p):\n    leak = p.Leaky(p.Section())\n"
        "    leak._ref_drive = leak.get_segment()._ref_v\n    p.run(1)\n"
    )
    session = run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_leaky.py"], repository
    )
    assert "(cached)" in session and "1 passed" in session
    assert list((repository / ".nrn-mod-cache").iterdir()) == builds


def test_a_moved_project_finds_its_builds(repository, tmp_path_factory):
    """The cache is keyed by the sources: a project moved or copied with its cache (another
    checkout, a CI workspace at another path) loads the build it has, without compiling."""
    assert "rank 0 compiled True" in run([sys.executable, "model.py"], repository)
    moved = tmp_path_factory.mktemp("elsewhere") / "project"
    shutil.copytree(repository, moved)
    assert "rank 0 compiled False seen -65.0" in run([sys.executable, "model.py"], moved)
    assert len(list((moved / ".nrn-mod-cache").iterdir())) == 1


def test_an_unset_pointer_of_a_cached_build_is_refused(repository):
    out = run([sys.executable, "model.py", "--unset"], repository)
    assert "SimulatorError Leaky[0].drive is a POINTER that was never set" in out


def test_bad_mod_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bad.mod").write_text(
        "NEURON { POINT_PROCESS Bad RANGE }\nBREAKPOINT { x = }\n"
    )
    code = textwrap.dedent("""
        import patch
        for folder in ("missing", "empty", "broken"):
            try:
                patch.load_mechanisms(folder)
            except (FileNotFoundError, patch.PatchError) as error:
                print(folder, type(error).__name__, isinstance(error, patch.PatchError), error)
    """)
    out = run([sys.executable, "-c", code], tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("missing FileNotFoundError False load_mechanisms: the mod folder")
    assert lines[1].startswith("empty FileNotFoundError False") and "no .mod files" in lines[1]
    assert lines[2].startswith("broken ModCompileError True nrnivmodl could not compile")
    assert "bad.mod" in out


def test_a_model_module_and_the_plugin_from_a_subdirectory_share_the_build(repository):
    """pytest run from tests/: the plugin builds in the rootdir's cache, and the model
    module's own load_mechanisms (path given from its file) finds the same sources loaded."""
    (repository / "model.py").write_text(
        "from pathlib import Path\nimport patch\n"
        "BUILD = patch.load_mechanisms(Path(__file__).parent / 'mod')\n"
    )
    (repository / "pytest.ini").write_text("[pytest]\nnrn_mod_dirs = mod\npythonpath = .\n")
    (repository / "tests").mkdir()
    (repository / "tests" / "test_model.py").write_text(
        "import model\n\ndef test_model(p):\n    assert model.BUILD.library.exists()\n"
        "    leak = p.Leaky(p.Section())\n    leak._ref_drive = leak.get_segment()._ref_v\n"
        "    p.run(1)\n"
    )
    out = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], repository / "tests")
    assert "1 passed" in out
    assert [path.name for path in repository.glob("**/.nrn-mod-cache")] == [".nrn-mod-cache"]
    assert (repository / ".nrn-mod-cache").is_dir()
    # A script run from elsewhere finds the project's cache by itself.
    script = "import patch\nprint(patch.load_mechanisms('myrepo/mod').compiled)\n"
    elsewhere = run(
        [sys.executable, "-c", script.replace("myrepo", repository.name)], repository.parent
    )
    assert elsewhere.split() == ["False"]


LEAK4 = """
NEURON { SUFFIX leak4 NONSPECIFIC_CURRENT i RANGE g }
PARAMETER { g = 0.0005 (S/cm2) }
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT { i = g * (v + 70) }
"""

LATER_CORENEURON = """
import numpy as np
import patch
from patch import p

plain = patch.load_mechanisms("mod")
print("plain", plain.coreneuron_library is None, sorted(patch.coreneuron_unavailable()))
# The same sources from another folder: NEURON has them; CoreNEURON's library is built now.
core = patch.load_mechanisms("same", coreneuron=True)
print("core", core.library == plain.library, core.coreneuron_library is not None,
      sorted(patch.coreneuron_unavailable()))
section = p.Section()
section.L = section.diam = 20
section.insert("hh")
section.insert("leak4")
p.coreneuron.verbose = 0
section.iclamp(amp=0.3, delay=1, duration=20)
traces = []
for enable in (False, True):
    p.coreneuron.enable = enable
    v = section.record()
    p.run(25)
    traces.append(np.array(v))
p.coreneuron.enable = False
print("same", traces[0].max() > 0, np.allclose(traces[0], traces[1], atol=1e-6))
"""


def test_coreneuron_library_built_after_neuron_loaded_the_sources(tmp_path):
    for name in ("mod", "same"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "leak4.mod").write_text(LEAK4)
    (tmp_path / "model.py").write_text(LATER_CORENEURON)
    out = [
        line
        for line in run([sys.executable, "model.py"], tmp_path).splitlines()
        if line.startswith(("plain", "core", "same"))
    ]
    assert out == ["plain True ['leak4']", "core True True []", "same True True"], out


def _generated(build):
    """The C++ nrnivmodl wrote for each .mod file of a build, by file name."""
    folder = build.library.parent
    return {path.name: path.read_text() for path in sorted(folder.glob("*.cpp"))}


def test_the_same_sources_compile_to_the_same_code_wherever_their_folder_is(tmp_path):
    """nrnivmodl writes the .mod files' paths into the C++: compiled from a copy named after
    the sources, two folders with the same sources give the same C++, which a compiler
    cache (ccache) then compiles once for every folder, checkout and test."""
    folders = [tmp_path / "one" / "mod", tmp_path / "elsewhere" / "two" / "mod"]
    for folder in folders:
        folder.mkdir(parents=True)
        (folder / "leak4.mod").write_text(LEAK4)
    first, second = (build(folder, folder.parent / ".nrn-mod-cache") for folder in folders)
    assert first.compiled and second.compiled
    code = _generated(first)
    assert "leak4.cpp" in code and code == _generated(second)
    assert not [name for name, text in code.items() if str(tmp_path) in text]

    # A damaged copy (a cleaner of old temporary files) is made again, not compiled.
    staged = Path(tempfile.gettempdir()) / f"patch-mod-sources-{os.getuid()}"
    (staged / source_hash(folders[0]) / "leak4.mod").write_text("NEURON { SUFFIX wrong }\n")
    third = build(folders[0], tmp_path / "third-cache")
    assert third.compiled and _generated(third) == code


COMPILE = """
import sys
import neuron
import patch

print(neuron.__file__)
print(patch.load_mechanisms(sys.argv[1], cache=sys.argv[2]).compiled)
"""


def _compiler_logging_to(log: Path, folder: Path) -> dict[str, str]:
    """An environment whose C++ compiler (``CXX``) writes its arguments to ``log``."""
    compiler = folder / "logging-c++"
    compiler.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec g++ "$@"\n')
    compiler.chmod(0o755)
    return {**os.environ, "CXX": str(compiler)}


def _copy_of_neuron(package: Path, site: Path) -> None:
    """A copy of the NEURON ``package`` in ``site``, with its wheel's record: another
    environment with the same NEURON."""
    shutil.copytree(package, site / "neuron", symlinks=True)
    for record in package.parent.glob("neuron*.dist-info"):
        shutil.copytree(record, site / record.name)


def _own_folders(tmp_path: Path) -> dict[str, str]:
    """Environment variables that give a test's builds a private folder of its own (its
    link to NEURON and its copies of sources, under ``tmp_path``), compiled by ccache, if
    the suite runs with it, as in every run of the test (paths relative to ``tmp_path``)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    return {"TMPDIR": str(tmp), "CCACHE_BASEDIR": str(tmp_path)}


def _links(tmp: Path) -> list[Path]:
    """The links to NEURON in the private folder under the temporary folder ``tmp``."""
    return list((tmp / f"patch-mod-sources-{os.getuid()}").glob("neuron-*/neuron"))


def test_the_same_neuron_in_another_environment_compiles_with_the_same_paths(tmp_path):
    """nrnivmodl gives the compiler the path of NEURON's headers, which lies in the Python
    environment: Patch has it compile through a link named after what the installation
    holds, so the same NEURON in another environment (here a copy of it at another path)
    compiles with the same paths, which a compiler cache (ccache) finds compiled already.
    The link keeps leading where it led: a build reads headers through it all along."""
    import neuron

    package = Path(neuron.__file__).parent
    site = tmp_path / "site"
    _copy_of_neuron(package, site)
    log = tmp_path / "compiler.log"
    tmp = tmp_path / "tmp"
    env = {**_compiler_logging_to(log, tmp_path), **_own_folders(tmp_path)}
    (tmp_path / "compile.py").write_text(COMPILE)
    used, pointed = [], []
    for name, pythonpath in (("here", None), ("there", str(site))):
        folder = tmp_path / name / "mod"
        folder.mkdir(parents=True)
        (folder / "leak4.mod").write_text(LEAK4)
        environment = {**env, "PYTHONPATH": pythonpath} if pythonpath else env
        printed = run(
            [sys.executable, "compile.py", folder, tmp_path / name / "cache"],
            tmp_path,
            env=environment,
        ).split()
        assert printed[-1] == "True"  # compiled
        used.append(Path(printed[-2]).parent)
        pointed.append([os.readlink(link) for link in _links(tmp)])
    assert used == [package, site / "neuron"]
    # Made by the first build; the second, from another NEURON with the same content,
    # compiled through it as it was.
    assert pointed == [[str(package)], [str(package)]]

    compiles = [line.split() for line in log.read_text().splitlines() if "leak4.cpp" in line]
    assert len(compiles) == 2
    headers = [
        [arg.removeprefix("-I") for arg in args if arg.endswith("/neuron/.data/include")]
        for args in compiles
    ]
    assert headers[0] == headers[1] and len(headers[0]) == 1
    link = Path(headers[0][0]).parent.parent
    assert link == _links(tmp)[0]
    for args in compiles:
        assert not [arg for arg in args if str(package.parent) in arg or str(site) in arg]


def test_a_neuron_without_its_wheels_record_compiles_where_it_is_installed(tmp_path):
    """A NEURON that cannot be told apart from others (no ``dist-info`` record: a copy, a
    source build) is not linked: nrnivmodl compiles with its own path, as before."""
    import neuron

    package = Path(neuron.__file__).parent
    site = tmp_path / "site"
    shutil.copytree(package, site / "neuron", symlinks=True)
    log = tmp_path / "compiler.log"
    env = {**_compiler_logging_to(log, tmp_path), "PYTHONPATH": str(site)}
    env["CCACHE_BASEDIR"] = str(tmp_path)  # as in every run of the test, for ccache
    (tmp_path / "compile.py").write_text(COMPILE)
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "leak4.mod").write_text(LEAK4)
    printed = run([sys.executable, "compile.py", "mod", "cache"], tmp_path, env=env).split()
    assert printed[-1] == "True" and Path(printed[-2]).parent == site / "neuron"
    [args] = [line.split() for line in log.read_text().splitlines() if "leak4.cpp" in line]
    assert f"-I{site}/neuron/.data/include" in args


def test_a_compiler_cache_is_given_the_build_folder_as_its_base(tmp_path, monkeypatch):
    """Each build compiles in a new folder, and nrnivmodl names the C++ files there by their
    absolute paths: ccache is told the folder is its base (``CCACHE_BASEDIR``), so it sees
    them relative to it and finds the same sources compiled for any folder, with no
    configuration of the user's. A base the user chose is kept."""
    log = tmp_path / "compiler.log"
    compiler = tmp_path / "logging-c++"
    compiler.write_text(f'#!/bin/sh\necho "base=$CCACHE_BASEDIR $*" >> "{log}"\nexec g++ "$@"\n')
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))
    monkeypatch.delenv("CCACHE_BASEDIR", raising=False)
    for name, base in (("mine", None), ("theirs", "/home")):
        if base:
            monkeypatch.setenv("CCACHE_BASEDIR", base)
        (tmp_path / name / "mod").mkdir(parents=True)
        (tmp_path / name / "mod" / f"leak{name}.mod").write_text(
            LEAK4.replace("leak4", f"leak{name}")
        )
        assert build(tmp_path / name / "mod", tmp_path / name / "cache").compiled
    compiles = {
        name: [line.split() for line in log.read_text().splitlines() if f"leak{name}.cpp" in line]
        for name in ("mine", "theirs")
    }
    [mine], [theirs] = compiles["mine"], compiles["theirs"]
    source = Path(next(arg for arg in mine if arg.endswith("leakmine.cpp")))
    assert mine[0] == f"base={source.parent.parent}"  # the build's folder
    assert source.parent.parent.parent == tmp_path / "mine" / "cache"
    assert theirs[0] == "base=/home"


def test_compile_errors_name_neurons_own_headers(tmp_path, monkeypatch):
    """The link NEURON is compiled through does not appear in a compile error: the
    message names the headers where they are installed."""
    import neuron

    # (A base of the user's that holds NEURON's headers, "/" say, has ccache show the
    # compiler paths relative to the build's folder.)
    monkeypatch.delenv("CCACHE_BASEDIR", raising=False)

    package = Path(neuron.__file__).parent
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "wrong.mod").write_text(WRONG_CALL)
    with pytest.raises(ModCompileError) as error:
        build(tmp_path / "mod", tmp_path / ".nrn-mod-cache")
    message = str(error.value)
    assert "wrong.mod" in message
    assert f"{package}/.data/include/" in message
    assert "patch-mod-sources-" not in message


WRONG_CALL = """
NEURON { SUFFIX wrongcall }
BREAKPOINT {
VERBATIM
    hoc_execerror(1, 2, 3);
ENDVERBATIM
}
"""


INCLUDES = """
NEURON { SUFFIX incleak NONSPECIFIC_CURRENT i RANGE g }
INCLUDE "../shared/params.inc"
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT { i = g * (v + 70) }
"""


def test_a_mod_file_including_a_file_beside_its_folder_compiles(tmp_path):
    """Such a folder cannot be compiled from a copy of its sources: it is compiled where it is."""
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "incleak.mod").write_text(INCLUDES)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "params.inc").write_text("PARAMETER { g = 0.00042 (S/cm2) }\n")
    script = (
        "import patch\nfrom patch import p\npatch.load_mechanisms('mod')\n"
        "section = p.Section()\nsection.insert('incleak')\nprint(section(0.5).incleak.g)\n"
    )
    assert run([sys.executable, "-c", script], tmp_path).split()[-1] == "0.00042"


def test_a_link_is_pointed_elsewhere_only_when_no_build_uses_it(tmp_path, monkeypatch):
    """The environment the link led to was deleted: the next build points it at its own
    NEURON, and compiles; but not while another build holds the link (it waits)."""
    import neuron

    from patch import _build_paths

    package = Path(neuron.__file__).parent
    env = {**os.environ, **_own_folders(tmp_path)}
    tmp = tmp_path / "tmp"
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    (tmp_path / "compile.py").write_text(COMPILE)
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "leak4.mod").write_text(LEAK4)
    with _build_paths.neuron_link(package) as home:
        assert home is not None and os.readlink(home / "neuron") == str(package)
        gone = tmp_path / "deleted-environment" / "neuron"
        (home / "neuron").unlink()
        os.symlink(gone, home / "neuron")
        build = subprocess.Popen(
            [sys.executable, "compile.py", "mod", "cache"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and build.poll() is None:
            assert os.readlink(home / "neuron") == str(gone)  # not while this build holds it
            time.sleep(0.1)
    out, _ = build.communicate(timeout=300)
    assert build.returncode == 0 and out.split()[-1] == "True"
    assert os.readlink(home / "neuron") == str(package)


def test_without_file_locks_nrnivmodl_compiles_where_neuron_is(tmp_path, monkeypatch):
    """A temporary folder whose file system refuses locks: no link, NEURON's own path."""
    import errno

    import neuron

    from patch import _build_paths

    def refused(*args):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(_build_paths.fcntl, "flock", refused)
    with _build_paths.neuron_link(Path(neuron.__file__).parent) as home:
        assert home is None
