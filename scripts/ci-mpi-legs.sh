#!/usr/bin/env bash
# CI: the MPI tests again with two more MPI libraries, each in a virtual environment of
# its own (never the mpich wheel):
#   impi     Intel MPI from PyPI's impi-rt wheel;
#   openmpi  Open MPI from Debian's packages, unpacked into the environment (nothing is
#            installed system-wide), with mpi4py built against it.
# Each leg runs the tests marked mpi under `mpiexec -n 2 pytest --with-mpi` and from a
# serial `pytest` (child runs, whose launcher the plugin finds from the MPI mpi4py loads).
#   bash scripts/ci-mpi-legs.sh [impi] [openmpi]      (default: both)
# The environments go into PATCH_MPI_ENVS (default: the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
envs="${PATCH_MPI_ENVS:-$repo}"

# pip's output goes to a log, shown only when the installation fails.
install() {
    local venv="$1"; shift
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    if ! { "$venv/bin/python" -m pip install "$@" \
           && "$venv/bin/python" -m pip install -e "$repo[test]"; } >"$venv/install.log" 2>&1; then
        cat "$venv/install.log"
        echo "installation into $venv failed (the log is above)" >&2
        exit 1
    fi
}

# The two ways of running the MPI tests, with the leg's own launcher ($1...).
mpi_tests() {
    local name="$1"; shift
    local start=$SECONDS
    echo "== $name: $* -n 2 pytest --with-mpi -m mpi"
    timeout --kill-after=30 600 \
        "$@" -n 2 python -m pytest --with-mpi -m mpi -p no:cacheprovider -q
    echo "== $name: pytest -m mpi (child runs)"
    timeout --kill-after=30 900 python -m pytest -m mpi -p no:cacheprovider -q
    echo "== $name: MPI tests took $((SECONDS - start)) s"
}

leg_impi() {
    local venv="$envs/.venv-ci-impi"
    echo "== impi: installing impi-rt, mpi4py and Patch into $venv"
    install "$venv" impi-rt mpi4py
    (
        export PATH="$venv/bin:$PATH"
        mpi_tests impi "$venv/bin/mpiexec"
    )
}

# Debian's Open MPI and the packages it needs that this system lacks, without the
# build tools and Fortran that libopenmpi-dev pulls in (mpi4py needs mpicc and mpi.h).
openmpi_packages() {
    apt-get install -s --no-install-recommends openmpi-bin libopenmpi-dev \
        | awk '/^Inst /{print $2}' \
        | grep -Ev '^(m4|autoconf|automake|autotools-dev|gfortran.*|libgfortran-[0-9]+-dev|libjs-.*)$' \
        | grep -Ev -- '-dev$' || true
    echo libopenmpi-dev
}

leg_openmpi() {
    local venv="$envs/.venv-ci-openmpi"
    local prefix="$venv/openmpi"
    if [ ! -x "$prefix/usr/bin/mpiexec.openmpi" ]; then
        echo "== openmpi: unpacking Debian's Open MPI into $prefix"
        mkdir -p "$prefix/debs"
        # apt needs package lists; a fresh container may have none.
        apt-cache show openmpi-bin >/dev/null 2>&1 || apt-get update -qq
        local packages
        packages=$(openmpi_packages)
        (cd "$prefix/debs" && apt-get download $packages >/dev/null)
        for deb in "$prefix"/debs/*.deb; do dpkg -x "$deb" "$prefix"; done
        # What the packages' scripts would have linked: PSM's library by its soname.
        local psm="$prefix/usr/lib/libpsm1"
        if [ -d "$psm" ]; then
            for lib in "$psm"/libpsm_infinipath.so.1.*; do
                ln -sf "$(basename "$lib")" "$psm/libpsm_infinipath.so.1"
            done
        fi
    fi
    local arch
    arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
    (
        export OPAL_PREFIX="$prefix/usr"
        export PATH="$venv/bin:$prefix/usr/bin:$PATH"
        local libs="$prefix/lib/$arch:$prefix/usr/lib/$arch:$prefix/usr/lib/$arch/openmpi/lib"
        export LD_LIBRARY_PATH="$libs:$prefix/usr/lib/libpsm1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        # PMIx looks for its plugins where Debian installs them, unless told.
        export PMIX_MCA_mca_base_component_path="$prefix/usr/lib/$arch/pmix2/lib/pmix"
        # CI runs as root on 2 cores of one host: let Open MPI do both (here and in child
        # runs), over shared memory (its InfiniBand and libfabric transports hang here).
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
        export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
        echo "== openmpi: building mpi4py against Open MPI into $venv"
        MPICC="$prefix/usr/bin/mpicc.openmpi" install "$venv" --no-binary mpi4py mpi4py
        mpi_tests openmpi mpiexec.openmpi
    )
}

legs=("$@")
[ ${#legs[@]} -gt 0 ] || legs=(impi openmpi)
for leg in "${legs[@]}"; do
    start=$SECONDS
    "leg_$leg"
    echo "== $leg: leg took $((SECONDS - start)) s"
done
