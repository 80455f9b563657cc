"""Published machines with known results, as listed in docs/MACHINES.md (a fixture we own)."""

HALTING = [
    # name, machine, steps, sigma
    ("BB(2)", "1RB1LB_1LA1RZ", 6, 4),
    ("BB(3) most steps", "1RB1RZ_1LB0RC_1LC1LA", 21, 5),
    ("BB(3) most ones", "1RB1RZ_0RC1RB_1LC1LA", 14, 6),
    ("BB(4)", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA", 107, 13),
    ("BB(2,3)", "1RB2LB1RZ_2LA2RB1LB", 38, 9),
]
SLOW_HALTING = [
    ("BB(2,4)", "1RB2LA1RA1RA_1LB1LA3RB1RZ", 3_932_964, 2_050),
    ("BB(5)", "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA", 47_176_870, 4_098),
]
BB5 = "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"
BB5_CELLS_VISITED = 12_289
BB5_UNDEFINED = "1RB1LC_1RC1RB_1RD0LE_1LA1LD_---0LA"  # stop-without-a-step: 47,176,869 steps, sigma 4,097
CYCLERS = [
    # machine, start, period, offset
    ("1RB0RB_1LB1RA", 0, 9, +3),
    ("1RB0LA_0RC1LA_1LC0RB", 0, 92, -4),
]
