COMMENT
A leak with an optional modulation through a POINTER (written for Patch's
drop-in corpus). Many published mechanisms declare a POINTER that only some
instances use and test it with nrn_pointing(): where the pointer is set, the
conductance follows the variable it points at; where it is not, gbase alone.
ENDCOMMENT

NEURON {
    POINT_PROCESS OptDrive
    POINTER mod
    RANGE gbase, gmod, e, g, i, pointing
    NONSPECIFIC_CURRENT i
}

UNITS {
    (mV) = (millivolt)
    (nA) = (nanoamp)
    (uS) = (microsiemens)
}

PARAMETER {
    gbase = 0.001 (uS)
    gmod = 0.01 (uS)
    e = 0 (mV)
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    mod (1)
    pointing (1)
}

INITIAL {
    pointing = nrn_pointing(mod)
}

BREAKPOINT {
    if (nrn_pointing(mod)) {
        g = gbase + gmod * mod
    } else {
        g = gbase
    }
    i = g * (v - e)
}
