TITLE Transient sodium current

COMMENT
Fast-activating, inactivating Na+ current (m^3 h) that generates the action potential.
Steady states are Boltzmann curves; time constants are bell-shaped around the
half-activation voltage. Kinetics are those at 34 degC, the only temperature the model
is run at, so no temperature scaling is applied.
ENDCOMMENT

NEURON {
    SUFFIX nat
    USEION na READ ena WRITE ina
    RANGE gbar, gna, ina
    GLOBAL mhalf, mslope, hhalf, hslope
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.12 (S/cm2)
    mhalf = -40 (mV)
    mslope = 9 (mV)
    hhalf = -62 (mV)
    hslope = 7 (mV)
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    gna (S/cm2)
    minf (1)
    hinf (1)
    mtau (ms)
    htau (ms)
}

STATE {
    m
    h
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gna = gbar * m * m * m * h
    ina = gna * (v - ena)
}

INITIAL {
    rates(v)
    m = minf
    h = hinf
}

DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
    h' = (hinf - h) / htau
}

PROCEDURE rates(v (mV)) {
    minf = 1 / (1 + exp(-(v - mhalf) / mslope))
    hinf = 1 / (1 + exp((v - hhalf) / hslope))
    mtau = 0.02 + 0.12 * exp(-((v - mhalf) / 20) ^ 2)
    htau = 0.5 + 6 * exp(-((v - hhalf - 8) / 12) ^ 2)
}
