TITLE High-voltage-activated calcium current

NEURON {
    SUFFIX cahva
    USEION ca READ eca WRITE ica
    RANGE gbar, ica
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
}

PARAMETER {
    gbar = 0.0005 (mho/cm2)
    vhalf = -20 (mV)
    slope = 6 (mV)
    tau = 1.5 (ms)
}

ASSIGNED {
    v (mV)
    eca (mV)
    ica (mA/cm2)
    minf
}

STATE { m }

BREAKPOINT {
    SOLVE states METHOD cnexp
    ica = gbar * m * m * (v - eca)
}

INITIAL {
    minf = 1 / (1 + exp(-(v - vhalf) / slope))
    m = minf
}

DERIVATIVE states {
    minf = 1 / (1 + exp(-(v - vhalf) / slope))
    m' = (minf - m) / tau
}
