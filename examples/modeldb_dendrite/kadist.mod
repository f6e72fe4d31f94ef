TITLE A-type potassium current, a transient outward current of dendrites

COMMENT
A simple inactivating potassium current with one activation gate (cubed) and one
inactivation gate, written for this example in the style of published models.
ENDCOMMENT

NEURON {
    SUFFIX kad
    USEION k READ ek WRITE ik
    RANGE gkabar, ik
    GLOBAL vhalfn, vhalfl, taul
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
}

PARAMETER {
    gkabar = 0.008 (mho/cm2)
    vhalfn = -1 (mV)
    vhalfl = -56 (mV)
    taul = 6 (ms)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    ninf
    linf
    taun (ms)
}

STATE { n l }

BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gkabar * n * n * n * l * (v - ek)
}

INITIAL {
    rates(v)
    n = ninf
    l = linf
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n) / taun
    l' = (linf - l) / taul
}

PROCEDURE rates(v (mV)) {
    ninf = 1 / (1 + exp(-(v - vhalfn) / 11))
    linf = 1 / (1 + exp((v - vhalfl) / 8.5))
    taun = 0.2 + 0.5 / (1 + exp((v + 20) / 10))
}
