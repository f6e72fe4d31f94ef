TITLE Hyperpolarisation-activated cation current (Ih)

COMMENT
A mixed Na+/K+ current carried by HCN channels, opened by hyperpolarisation and closed by
depolarisation over tens of milliseconds. It lowers the input resistance and produces the
voltage "sag" during a hyperpolarising step. Its density rises along the apical dendrite
(set by the cell, not here).
ENDCOMMENT

NEURON {
    SUFFIX hcn
    NONSPECIFIC_CURRENT ih
    RANGE gbar, ih
    GLOBAL ehcn, qhalf, qslope
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.0001 (S/cm2)
    ehcn = -45 (mV)
    qhalf = -82 (mV)
    qslope = 8 (mV)
}

ASSIGNED {
    v (mV)
    ih (mA/cm2)
    qinf (1)
    qtau (ms)
}

STATE {
    q
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ih = gbar * q * (v - ehcn)
}

INITIAL {
    rates(v)
    q = qinf
}

DERIVATIVE states {
    rates(v)
    q' = (qinf - q) / qtau
}

PROCEDURE rates(v (mV)) {
    qinf = 1 / (1 + exp((v - qhalf) / qslope))
    qtau = 20 + 80 * exp(-((v + 75) / 25) ^ 2)
}
