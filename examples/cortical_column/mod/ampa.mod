TITLE AMPA-type excitatory synapse

COMMENT
A conductance with a double-exponential time course (rise tau1, decay tau2), peaking at
the NetCon's weight (uS) for a single event. Events add linearly, so a train summates.
ENDCOMMENT

NEURON {
    POINT_PROCESS AmpaSyn
    NONSPECIFIC_CURRENT i
    RANGE tau1, tau2, e, i, g
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    tau1 = 0.3 (ms) <1e-9, 1e9>
    tau2 = 3 (ms) <1e-9, 1e9>
    e = 0 (mV)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    peak (1)
}

STATE {
    rise (uS)
    decay (uS)
}

INITIAL {
    LOCAL tpeak
    if (tau1 / tau2 > 0.9999) {
        tau1 = 0.9999 * tau2
    }
    rise = 0
    decay = 0
    : scale events so that one of weight w peaks at w
    tpeak = tau1 * tau2 / (tau2 - tau1) * log(tau2 / tau1)
    peak = 1 / (exp(-tpeak / tau2) - exp(-tpeak / tau1))
}

BREAKPOINT {
    SOLVE channel METHOD cnexp
    g = decay - rise
    i = g * (v - e)
}

DERIVATIVE channel {
    rise' = -rise / tau1
    decay' = -decay / tau2
}

NET_RECEIVE(weight (uS)) {
    rise = rise + weight * peak
    decay = decay + weight * peak
}
