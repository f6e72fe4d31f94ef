TITLE High-voltage-activated calcium current, scaled by temperature

COMMENT
The temperature factor tadj is a GLOBAL computed while the model runs, the way many
published cells write it. NEURON compiles this; CoreNEURON's compiler refuses it (a
GLOBAL written during the run must be a RANGE variable there).
ENDCOMMENT

NEURON {
    SUFFIX cahva
    USEION ca READ eca WRITE ica
    RANGE gbar
    GLOBAL q10, tbase, tadj
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}

PARAMETER {
    gbar = 0.0003 (S/cm2)
    q10 = 2.3
    tbase = 23 (degC)
}

ASSIGNED {
    v (mV)
    eca (mV)
    ica (mA/cm2)
    celsius (degC)
    tadj
    minf
    mtau (ms)
}

STATE { m }

BREAKPOINT {
    SOLVE gate METHOD cnexp
    ica = tadj * gbar * m * m * (v - eca)
}

INITIAL {
    settle(v)
    m = minf
}

DERIVATIVE gate {
    settle(v)
    m' = (minf - m) / mtau
}

PROCEDURE settle(v (mV)) {
    tadj = q10 ^ ((celsius - tbase) / 10 (degC))
    minf = 1 / (1 + exp(-(v + 20) / 6 (mV)))
    mtau = 1.5 (ms) / tadj
}
