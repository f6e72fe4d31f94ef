TITLE Delayed-rectifier potassium current

COMMENT
Non-inactivating K+ current (n^4) that repolarises the action potential and sets the
after-hyperpolarisation. Kinetics at 34 degC, without temperature scaling.
ENDCOMMENT

NEURON {
    SUFFIX kdr
    USEION k READ ek WRITE ik
    RANGE gbar, gk, ik
    GLOBAL nhalf, nslope, ntaumax
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.036 (S/cm2)
    nhalf = -53 (mV)
    nslope = 15 (mV)
    ntaumax = 10 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gk (S/cm2)
    ninf (1)
    ntau (ms)
}

STATE {
    n
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gk = gbar * n * n * n * n
    ik = gk * (v - ek)
}

INITIAL {
    rates(v)
    n = ninf
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n) / ntau
}

PROCEDURE rates(v (mV)) {
    ninf = 1 / (1 + exp(-(v - nhalf) / nslope))
    ntau = 1 + (ntaumax - 1) * exp(-((v - nhalf) / 25) ^ 2)
}
