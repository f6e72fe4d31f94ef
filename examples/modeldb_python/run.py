"""Calcium accumulation during a spike train: the figures of this example model.

python run.py          runs the control protocol
main(amp=0.4)          runs it with another stimulus (from an interactive session)
"""

from neuron import h

h.load_file("stdrun.hoc")

soma = h.Section(name="soma")
soma.L = soma.diam = 30
soma.insert("hh")
soma.insert("cahva")
soma.insert("cadecay")

stim = h.IClamp(soma(0.5))
stim.delay = 10
stim.dur = 100

v = h.Vector().record(soma(0.5)._ref_v)
cai = h.Vector().record(soma(0.5)._ref_cai)
t = h.Vector().record(h._ref_t)
spikes = h.Vector()
detector = h.NetCon(soma(0.5)._ref_v, None, sec=soma)
detector.threshold = 0
detector.record(spikes)


def main(amp=0.2):
    stim.amp = amp
    h.tstop = 150
    h.run()
    print(f"stimulus {amp} nA: {len(spikes)} spikes")
    print(f"peak [Ca]i {cai.max() * 1e3:.5f} uM at {t[int(cai.max_ind())]:.3f} ms")
    print(f"[Ca]i at the end {cai[-1] * 1e3:.5f} uM")


if __name__ == "__main__":
    main()
