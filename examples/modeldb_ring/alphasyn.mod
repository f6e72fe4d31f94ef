TITLE A synapse whose conductance is the difference of two exponentials

COMMENT
Each event adds its weight (uS) to the conductance, which rises with tau1 and decays
with tau2; written for this example in the style of published network models.
ENDCOMMENT

NEURON {
    POINT_PROCESS AlphaSyn
    RANGE tau1, tau2, e, i, g
    NONSPECIFIC_CURRENT i
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    tau1 = 0.5 (ms) <1e-9,1e9>
    tau2 = 3 (ms) <1e-9,1e9>
    e = 0 (mV)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    factor
}

STATE { A (uS) B (uS) }

INITIAL { LOCAL tp
    A = 0
    B = 0
    tp = (tau1 * tau2) / (tau2 - tau1) * log(tau2 / tau1)
    factor = 1 / (-exp(-tp / tau1) + exp(-tp / tau2))
}

BREAKPOINT {
    SOLVE state METHOD cnexp
    g = B - A
    i = g * (v - e)
}

DERIVATIVE state {
    A' = -A / tau1
    B' = -B / tau2
}

NET_RECEIVE(weight (uS)) {
    A = A + weight * factor
    B = B + weight * factor
}
