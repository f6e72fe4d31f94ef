NEURON {
    POINT_PROCESS Tickle
    RANGE amp, count
    NONSPECIFIC_CURRENT i
}
UNITS { (nA) = (nanoamp) }
PARAMETER { amp = 0.1 (nA) }
ASSIGNED { i (nA) count }
INITIAL { count = 0 }
BREAKPOINT { i = 0 }
NET_RECEIVE (w) { count = count + 1 }
