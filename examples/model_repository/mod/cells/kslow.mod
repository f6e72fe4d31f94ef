TITLE Slow potassium current that lengthens the interspike intervals

NEURON {
    SUFFIX kslow
    USEION k READ ek WRITE ik
    RANGE gbar, ninf, ntau
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.002 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    ninf
    ntau (ms)
}

STATE { n }

BREAKPOINT {
    SOLVE gate METHOD cnexp
    ik = gbar * n * (v - ek)
}

INITIAL {
    settle(v)
    n = ninf
}

DERIVATIVE gate {
    settle(v)
    n' = (ninf - n) / ntau
}

PROCEDURE settle(v (mV)) {
    ninf = 1 / (1 + exp(-(v + 35) / 10 (mV)))
    ntau = 80 (ms)
}
