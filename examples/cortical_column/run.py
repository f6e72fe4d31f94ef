"""Run the column for 150 ms and print the spikes of each cell.

python run.py
mpiexec -n 2 python run.py      # the same raster, with the cells spread over 2 ranks
"""

from column import V_REST, Column

from patch import p


def main() -> None:
    column = Column()
    spikes = p.parallel.record_spikes()
    p.v_init = V_REST
    p.run(150)
    raster = spikes.gather()
    if p.parallel.rank == 0:
        print(f"{column.n} cells on {p.parallel.size} rank(s): {raster.size} spikes in 150 ms")
        for gid in range(column.n):
            times = " ".join(f"{t:7.3f}" for t in raster["time"][raster["gid"] == gid])
            print(f"  gid {gid:2d}: {times}")


if __name__ == "__main__":
    main()
