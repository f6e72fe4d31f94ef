COMMENT
An artificial cell whose firing interval is set by a value it reads
through a POINTER (written for Patch's drop-in corpus).

At every self-event it reads drive, emits a spike and schedules the next
one base_interval / (1 + gain * drive) later: the more active the variable
it points at, the faster it fires. last_drive and nspikes show what it saw.
ENDCOMMENT

NEURON {
    ARTIFICIAL_CELL DrivenBurster
    POINTER drive
    RANGE base_interval, gain, start, last_drive, max_drive, nspikes
}

PARAMETER {
    base_interval = 10 (ms)
    gain = 6
    start = 1 (ms)
}

ASSIGNED {
    drive
    last_drive
    max_drive
    nspikes
}

INITIAL {
    nspikes = 0
    last_drive = 0
    max_drive = 0
    net_send(start, 1)
}

NET_RECEIVE (w) {
    if (flag == 1) {
        last_drive = drive
        if (drive > max_drive) {
            max_drive = drive
        }
        nspikes = nspikes + 1
        net_event(t)
        net_send(base_interval / (1 + gain * drive), 1)
    }
}
