COMMENT
Reciprocal inhibition through POINTERs (written for Patch's drop-in corpus).

Each MutInh sits on one cell. Its activation s follows that cell's voltage
(a steep sigmoid, so s rises while the cell fires and decays afterwards).
The conductance it opens on its own cell is set by the activation of its
partner, read through the POINTER partner_s: cell A is inhibited by B's
activity and B by A's, a closed loop of two pointers.
ENDCOMMENT

NEURON {
    POINT_PROCESS MutInh
    POINTER partner_s
    RANGE s, g, i, gmax, e, tau, vhalf, slope
    NONSPECIFIC_CURRENT i
}

UNITS {
    (mV) = (millivolt)
    (nA) = (nanoamp)
    (uS) = (microsiemens)
}

PARAMETER {
    gmax = 0.02 (uS)
    e = -80 (mV)
    tau = 15 (ms)
    vhalf = -20 (mV)
    slope = 3 (mV)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    partner_s (1)
}

STATE {
    s (1)
}

INITIAL {
    s = 0
}

BREAKPOINT {
    SOLVE activation METHOD cnexp
    g = gmax * partner_s
    i = g * (v - e)
}

DERIVATIVE activation {
    s' = (sinf(v) - s) / tau
}

FUNCTION sinf(vm (mV)) (1) {
    sinf = 1 / (1 + exp(-(vm - vhalf) / slope))
}
