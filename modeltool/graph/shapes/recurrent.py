"""Shape rules of the recurrent layers (LSTM, GRU, SimpleRNN, ConvLSTM)."""

from __future__ import annotations

from ..model import Shape
from .call import Call, Outputs, Rule
from .spatial import conv


def conv_lstm(rank: int) -> Rule:
    """ConvLSTM1D/2D/3D: a convolution per time step, with sequences and states."""
    def rule(call: Call) -> Outputs:
        x = call.x
        if x is None:
            return None
        config = call.config
        if len(x) != rank + 3:
            raise ValueError("rank mismatch")
        step = (x[0], *x[2:])
        [state] = conv(rank)(Call("Conv", config, [step])) or [None]
        if state is None:
            return None
        out: Shape = (x[0], x[1], *state[1:]) if config.get("return_sequences") else state
        outputs: list[Shape | None] = [out]
        if config.get("return_state"):
            outputs += [state, state]
        return outputs
    return rule


def rnn(call: Call) -> Outputs:
    """LSTM, GRU, SimpleRNN: sequences or the last output, and the states."""
    x = call.x
    if x is None:
        return None
    config = call.config
    units = int(config["units"])
    if len(x) != 3:
        raise ValueError("RNNs take (batch, time, features)")
    out: Shape = (x[0], x[1], units) if config.get("return_sequences") else (x[0], units)
    outputs: list[Shape | None] = [out]
    if config.get("return_state"):
        states = 2 if call.class_name in ("LSTM", "CuDNNLSTM") else 1
        outputs += [(x[0], units)] * states
    return outputs
