"""Shape rules of the attention layers."""

from __future__ import annotations

from ..model import Shape
from .call import Call, Outputs


def attention_inputs(call: Call) -> tuple[Shape | None, Shape | None, Shape | None]:
    """(query, value, key) of Attention/MultiHeadAttention, positional or by keyword."""
    q = call.inputs[0] if call.inputs else None
    v = call.inputs[1] if len(call.inputs) > 1 else None
    k = call.inputs[2] if len(call.inputs) > 2 else None
    for name, refs in call.extra.items():
        if name == "query" and refs:
            q = refs[0]
        elif name == "value" and refs:
            v = refs[0]
        elif name == "key" and refs:
            k = refs[0]
    return q, v, (k if k is not None else v)


def wants_scores(call: Call) -> bool:
    """Whether the call asks for the attention scores as a second output."""
    return bool(call.kwargs.get("return_attention_scores"))


def attention(call: Call) -> Outputs:
    """Attention, AdditiveAttention: the query's shape with the value's features."""
    q, v, _ = attention_inputs(call)
    if q is None or v is None:
        return None
    out: list[Shape | None] = [(*q[:-1], v[-1])]
    if wants_scores(call):
        out.append((*q[:-1], v[-2]))
    return out


def multi_head_attention(call: Call) -> Outputs:
    """MultiHeadAttention, GroupQueryAttention: the query's shape (or ``output_shape``)."""
    q = attention_inputs(call)[0]
    if q is None:
        return None
    target = call.config.get("output_shape")
    if target is None:
        out: Shape = q
    elif isinstance(target, int):
        out = (*q[:-1], target)
    else:
        out = (*q[:-1], *(int(d) for d in target))
    outputs: list[Shape | None] = [out]
    if wants_scores(call):
        # Keras 3's compute_output_spec reports (batch, heads, Tq, Tq) for the scores (the
        # tensor computed at run time is (batch, heads, Tq, Tk)); a summary shows what Keras
        # reports, since every layer downstream was built on it.
        outputs.append((q[0], int(call.config["num_heads"]), q[1], q[1]) if len(q) > 1
                       else None)
    return outputs
