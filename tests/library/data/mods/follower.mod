: Reads another variable through a POINTER every time step (and would crash NEURON
: if the pointer were never set).
NEURON {
    POINT_PROCESS Follower
    POINTER source
    RANGE copy
}
ASSIGNED { source copy }
INITIAL { copy = source }
BREAKPOINT { copy = source }
