COMMENT
Counts the events it receives and remembers when the last one arrived.
ENDCOMMENT

NEURON {
    POINT_PROCESS EventCounter
    RANGE count, last
}

ASSIGNED {
    count
    last (ms)
}

INITIAL {
    count = 0
    last = -1
}

NET_RECEIVE (weight) {
    count = count + 1
    last = t
}
