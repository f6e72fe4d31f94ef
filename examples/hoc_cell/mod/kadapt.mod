TITLE Slow potassium current for spike-frequency adaptation

COMMENT
A non-inactivating K+ current whose activation builds up over tens of milliseconds
during a spike train, lengthening the later interspike intervals.
ENDCOMMENT

NEURON {
    SUFFIX kadapt
    USEION k READ ek WRITE ik
    RANGE gbar, ik
    GLOBAL tau, vhalf, slope
}

UNITS {
    (mV) = (millivolt)
    (mA) = (milliamp)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.0008 (S/cm2)
    tau = 80 (ms)
    vhalf = -35 (mV)
    slope = 5 (mV)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    ninf (1)
}

STATE {
    n
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    ik = gbar * n * (v - ek)
}

INITIAL {
    rates(v)
    n = ninf
}

DERIVATIVE states {
    rates(v)
    n' = (ninf - n) / tau
}

PROCEDURE rates(v (mV)) {
    ninf = 1 / (1 + exp(-(v - vhalf) / slope))
}
