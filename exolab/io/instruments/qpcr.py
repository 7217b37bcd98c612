"""What the qPCR parsers share: roles of wells, not-detected Cq values, NTC checks."""

from __future__ import annotations

from exolab.io.instruments.model import Measurement, ParsedRun, number

CT = "{Ct}"
NOT_DETECTED = frozenset({"undetermined", "nan", "no ct", "no cq", "-1", "-1.0", "n/a", ""})


def is_not_detected(text: str) -> bool:
    s = text.strip().lower()
    if s in NOT_DETECTED:
        return True
    v = number(s)
    return v is not None and v < 0  # RDML cq -1: no amplification


def ct_measurement(
    run: ParsedRun,
    *,
    name: str,
    position: str,
    target: str,
    cq: str,
    role: str,
    notes: str | None = None,
) -> None:
    """Add one well: a sample readout, or a run control (standard, NTC) with its check."""
    cycles = run.header.cycles
    nd = is_not_detected(cq)
    value = "Undetermined" if nd else cq.strip()
    if role == "sample":
        run.measurements.append(
            Measurement(
                name=name,
                position=position,
                target=target,
                value=value,
                unit=CT,
                role=role,
                lod=float(cycles) if nd and cycles else None,
                notes=notes,
            )
        )
        return
    control: dict[str, object] = {
        "position": position,
        "name": name,
        "target": target,
        "role": role,
        "cq": value,
    }
    if role == "ntc":
        control["pass"] = nd
        if not nd:
            run.warnings.append(f"{position}: NTC amplified ({target}, Cq {value})")
    run.controls.append(control)
    run.left_out.append(
        _left(
            position,
            name,
            {"ntc": "NTC (run control)", "standard": "standard (run control)"}.get(
                role, f"{role} (run control)"
            ),
        )
    )


def _left(position: str, name: str, reason: str):  # type: ignore[no-untyped-def]
    from exolab.io.instruments.model import LeftOut

    return LeftOut(position, name, reason)


def not_detected_note(run: ParsedRun) -> None:
    if run.header.cycles is None and any(
        m.value == "Undetermined" for m in run.measurements if m.unit == CT
    ):
        run.warnings.append(
            "the file does not state the run's cycle count: not-detected wells are stored as "
            "censored (>) without a limit"
        )


__all__ = ["CT", "Measurement", "ct_measurement", "is_not_detected", "not_detected_note"]
