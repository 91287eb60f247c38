"""The value half of the instance reader: from a checked `RawFile` to a trusted `Instance`.

`instance_from_raw` re-checks the structure (the raw file may come from the isolated reader
process), validates every value, builds the Instance and re-checks its certificate by evaluating
the loss: L(theta*) equals L* to 1e-12, theta* is a stationary point (central differences, every
component below 1e-5) with non-negative curvature along every coordinate, the tolerance is
finite and positive, the ladder is finite, strictly ascending, with positive integer counts that
add up to `num_local_minima` where the kind says the ladder lists every minimum. docs/format.md
("What a reader must refuse") lists every check; each failure is a typed CorruptFileError.
"""

from __future__ import annotations

import math
import unicodedata

import numpy as np

from qnntraps.errors import (
    CertificateError,
    CorruptFileError,
    InvalidInstanceIdError,
    InvalidValueError,
    UnsupportedFormatError,
    UnsupportedStructureError,
)
from qnntraps.hdf5_reader import (
    ADVICE,
    DATASETS,
    FORMAT_NAME,
    GROUP_ATTRIBUTES,
    INPUT_FORMS,
    LIMITS,
    OBSERVABLE_FORMS,
    PARAMETER_NAME,
    PARAMETER_TAGS,
    ROOT_ATTRIBUTES,
    SUPPORTED_FORMAT_VERSIONS,
    Attr,
    RawFile,
    ReadLimits,
    bind_symbol,
    expected_shape,
    group_members,
    show,
)
from qnntraps.ids import parse_instance_id
from qnntraps.instance import (
    BOUND_KINDS,
    CERTIFICATE_KINDS,
    COMPLETE_LADDER_KINDS,
    MULTISTART_KINDS,
    Ansatz,
    Certificate,
    Dataset,
    EncodedFeatures,
    Instance,
    PauliMixtureStates,
    PauliSumObservable,
    ProductObservable,
    Provenance,
)
from qnntraps.model import GRADIENT_VARIANCE_METHODS, LOSS_FORMS, GradientVariance

VALUE_TOLERANCE = 1e-12  # |L(theta*) - L*| <= VALUE_TOLERANCE * max(1, |L*|)
GRADIENT_TOLERANCE = 1e-5  # central-difference gradient components at theta*
CURVATURE_TOLERANCE = 1e-6  # second differences along each coordinate must be >= -this
PROBE_STEP = 1e-4
STATEVECTOR_MAX_WORK = (
    2**30
)  # points x gates x amplitudes a reader spends re-checking a certificate
PROBE_CHUNK_ELEMENTS = 2**22


def instance_from_raw(raw: RawFile, name: str, limits: ReadLimits = LIMITS) -> Instance:
    """Validate a raw file completely and return its Instance; raises a typed CorruptFileError."""
    check_raw_structure(raw, name, limits)
    a, x = raw.attrs, raw.arrays
    instance_id = _check_header(a, name)
    n, p, m = (a[f"/{key}"].value for key in ("num_qubits", "num_parameters", "num_samples"))
    bound = limits.max_abs_float

    generators = _codes(x["ansatz/generators"], "ansatz/generators", name)
    parameter_index = x["ansatz/parameter_index"]
    _check_parameter_index(parameter_index, p, name)
    fixed = _floats(x["ansatz/fixed_angles"], "ansatz/fixed_angles", name, bound)
    if np.any(fixed[parameter_index >= 0] != 0):
        raise InvalidValueError(
            f"{name}: ansatz/fixed_angles is not 0 for a parameterized gate; {ADVICE}"
        )
    ansatz = Ansatz(n, p, generators, parameter_index, fixed)

    if a["/observable/form"].value == "product":
        observable = ProductObservable(
            _floats(x["observable/factors"], "observable/factors", name, bound)
        )
    else:
        observable = PauliSumObservable(
            _codes(x["observable/pauli_codes"], "observable/pauli_codes", name),
            _floats(x["observable/coefficients"], "observable/coefficients", name, bound),
        )

    if a["/dataset/input_form"].value == "pauli_mixture":
        codes = _codes(x["dataset/pauli_codes"], "dataset/pauli_codes", name)
        if np.any(np.all(codes == 0, axis=1)):
            raise InvalidValueError(
                f"{name}: a row of dataset/pauli_codes is the identity, so (I + eps P) / 2^n "
                f"would not be a state of trace 1; {ADVICE}"
            )
        epsilon = _floats(x["dataset/epsilon"], "dataset/epsilon", name, 1.0)
        if np.any(epsilon <= 0):
            raise InvalidValueError(
                f"{name}: dataset/epsilon has a value <= 0; the format needs 0 < epsilon <= 1 "
                f"(a valid state); {ADVICE}"
            )
        inputs = PauliMixtureStates(codes, epsilon)
    else:
        features = _floats(x["dataset/features"], "dataset/features", name, bound)
        if np.any(features < 0) or np.any(features >= 2 * np.pi):
            raise InvalidValueError(
                f"{name}: dataset/features has a value outside [0, 2pi); {ADVICE}"
            )
        inputs = EncodedFeatures(features)
    labels = _floats(x["dataset/labels"], "dataset/labels", name, bound)
    noiseless = x.get("dataset/noiseless_labels")
    if noiseless is not None:
        noiseless = _floats(noiseless, "dataset/noiseless_labels", name, bound)
    version = a["/format_version"].value
    _check_version_features(a, x, version, name)
    loss = a["/dataset/loss"].value if version >= 2 else "square"
    if loss not in LOSS_FORMS:
        raise InvalidValueError(
            f"{name}: /dataset attribute loss is {show(loss)}; the format knows "
            f"{', '.join(LOSS_FORMS)}; {ADVICE}"
        )
    dataset = Dataset(inputs, labels, noiseless, loss=loss)

    certificate = _certificate(a, x, p, name, limits)
    _check_spectral(certificate, dataset, name)
    provenance = _provenance(a, instance_id, p, m, name, limits)
    instance = Instance(instance_id, ansatz, observable, dataset, certificate, provenance)
    recheck_certificate(instance, name)
    return instance


# ---------------------------------------------------------------- structure, again


def check_raw_structure(raw: RawFile, name: str, limits: ReadLimits = LIMITS) -> None:
    """The structural rules of `qnntraps.hdf5_reader`, re-applied to a RawFile: exact attribute
    names and types, exact dataset names, dtypes and shapes, the limits."""
    a, x = raw.attrs, raw.arrays
    fmt = a.get("/format")
    if not isinstance(fmt, Attr) or fmt.tag != "str" or fmt.value != FORMAT_NAME:
        raise CorruptFileError(
            f"{name} is HDF5 but not a qnntraps instance (format "
            f"{show(fmt.value) if isinstance(fmt, Attr) else 'missing'}); use a file made by qnntraps"
        )
    version = a.get("/format_version")
    if not isinstance(version, Attr) or version.tag != "i8":
        raise CorruptFileError(f"{name} has no int64 format_version attribute; {ADVICE}")
    if version.value not in SUPPORTED_FORMAT_VERSIONS:
        raise UnsupportedFormatError(
            f"{name} has format version {version.value!r}; this qnntraps reads "
            f"{SUPPORTED_FORMAT_VERSIONS}: upgrade qnntraps to read it"
        )
    expected = {f"/{k}": v for k, v in ROOT_ATTRIBUTES.items()}
    optional = {}
    for group, (required_attrs, optional_attrs) in GROUP_ATTRIBUTES.items():
        expected.update({f"/{group}/{k}": v for k, v in required_attrs.items()})
        optional.update({f"/{group}/{k}": v for k, v in optional_attrs.items()})
    parameters = [k for k in a if k.startswith("/provenance/parameters/")]
    for key in set(expected) - set(a):
        raise CorruptFileError(f"{name} is a malformed qnntraps instance: no {key}; {ADVICE}")
    for key, attr in a.items():
        if key in parameters:
            tags = PARAMETER_TAGS
            if not PARAMETER_NAME.fullmatch(key.rsplit("/", 1)[1]):
                raise InvalidValueError(f"{name}: bad parameter name {show(key)}; {ADVICE}")
        elif key in expected or key in optional:
            tags = ((expected | optional)[key],)
        else:
            raise CorruptFileError(f"{name}: unexpected attribute {show(key)}; {ADVICE}")
        if not isinstance(attr, Attr) or attr.tag not in tags or not _tag_matches(attr):
            raise InvalidValueError(f"{name}: attribute {key} has the wrong type; {ADVICE}")
        if attr.tag == "str":
            _check_text(attr.value, key, name, limits)
    if len(parameters) > limits.max_provenance_parameters:
        raise CorruptFileError(f"{name}: too many provenance parameters; {ADVICE}")

    forms = (a["/observable/form"].value, a["/dataset/input_form"].value)
    if forms[0] not in OBSERVABLE_FORMS or forms[1] not in INPUT_FORMS:
        raise InvalidValueError(
            f"{name}: unknown observable form {show(forms[0])} or input form {show(forms[1])}; "
            f"{ADVICE}"
        )
    allowed = []
    for group, (required, extra) in group_members(*forms).items():
        for member in required:
            if f"{group}/{member}" not in x:
                raise CorruptFileError(
                    f"{name} is a malformed qnntraps instance: no {group}/{member}; {ADVICE}"
                )
        allowed += [f"{group}/{member}" for member in (*required, *extra)]
    if set(x) - set(allowed):
        raise CorruptFileError(
            f"{name}: unexpected dataset(s) {', '.join(sorted(show(k) for k in set(x) - set(allowed)))}; "
            f"{ADVICE}"
        )
    if ("certificate/ladder_values" in x) != ("certificate/ladder_counts" in x):
        raise CorruptFileError(
            f"{name}: /certificate has only one of ladder_values and ladder_counts; {ADVICE}"
        )
    symbols: dict[str, int] = {}
    for key, symbol in (("num_qubits", "n"), ("num_parameters", "p"), ("num_samples", "m")):
        bind_symbol(symbols, symbol, a[f"/{key}"].value, f"attribute {key}", name, limits)
    for path in allowed:  # in the reader's order, so that G, K and L are bound before use
        if path not in x:
            continue
        array = x[path]
        dtype, _ = DATASETS[path]
        if not isinstance(array, np.ndarray) or array.dtype != dtype:
            raise InvalidValueError(f"{name}: /{path} has the wrong type; {ADVICE}")
        expected_shape(path, array.shape, symbols, name, limits)


def _tag_matches(attr: Attr) -> bool:
    if attr.tag == "str":
        return isinstance(attr.value, str)
    if attr.tag == "f8":
        return type(attr.value) is float
    if type(attr.value) is not int:
        return False
    if attr.tag == "i8":
        return -(2**63) <= attr.value < 2**63
    return 0 <= attr.value < 2**64


def _check_text(value: str, key: str, name: str, limits: ReadLimits) -> None:
    if len(value.encode("utf-8", "surrogatepass")) > limits.max_string_bytes:
        raise CorruptFileError(f"{name}: attribute {key} is too long; {ADVICE}")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise InvalidValueError(
            f"{name}: attribute {key} contains control characters (they could rewrite a "
            f"terminal); {ADVICE}"
        )


# ---------------------------------------------------------------- values


def _check_header(a, name: str) -> str:
    instance_id = a["/id"].value
    try:
        parts = parse_instance_id(instance_id)
    except InvalidInstanceIdError as error:
        raise InvalidValueError(
            f"{name}: the id attribute {show(instance_id)} is not an instance ID; {ADVICE}"
        ) from error
    p = a["/num_parameters"].value
    if parts.p != p:
        raise InvalidValueError(
            f"{name}: id {instance_id} says p = {parts.p} but num_parameters is {p}; {ADVICE}"
        )
    if a["/provenance/family"].value != parts.family:
        raise InvalidValueError(
            f"{name}: id {instance_id} is of family {parts.family} but provenance/family is "
            f"{show(a['/provenance/family'].value)}; {ADVICE}"
        )
    return instance_id


def _codes(array: np.ndarray, path: str, name: str) -> np.ndarray:
    if array.size and (array.min() < 0 or array.max() > 3):
        raise InvalidValueError(
            f"{name}: {path} has Pauli codes outside 0..3 (0 = I, 1 = X, 2 = Y, 3 = Z); {ADVICE}"
        )
    return array


def _floats(array: np.ndarray, path: str, name: str, bound: float) -> np.ndarray:
    if not np.all(np.isfinite(array)):
        raise InvalidValueError(f"{name}: {path} contains NaN or infinity; {ADVICE}")
    if array.size and np.max(np.abs(array)) > bound:
        raise InvalidValueError(
            f"{name}: {path} has a value of magnitude above {bound:g}, the format's limit; {ADVICE}"
        )
    return array


def _float(value: float, key: str, name: str, bound: float, error=InvalidValueError) -> float:
    if not math.isfinite(value):
        raise error(f"{name}: {key} is {value!r}; it must be finite; {ADVICE}")
    if abs(value) > bound:
        raise error(
            f"{name}: {key} = {value!r} has magnitude above {bound:g}, the format's limit; {ADVICE}"
        )
    return value


def _check_parameter_index(index: np.ndarray, p: int, name: str) -> None:
    if np.any(index < -1) or np.any(index >= p):
        raise InvalidValueError(
            f"{name}: ansatz/parameter_index has a value outside -1..{p - 1} (num_parameters = "
            f"{p}); {ADVICE}"
        )
    used = np.unique(index[index >= 0])
    if used.size != p:
        raise InvalidValueError(
            f"{name}: only {used.size} of the num_parameters = {p} parameters drive a gate; "
            f"{ADVICE}"
        )


def _certificate(a, x, p: int, name: str, limits: ReadLimits) -> Certificate:
    bound = limits.max_abs_float
    kind = a["/certificate/kind"].value
    if kind not in CERTIFICATE_KINDS:
        raise InvalidValueError(
            f"{name}: certificate kind {show(kind)} is not one of {', '.join(CERTIFICATE_KINDS)}; "
            f"{ADVICE}"
        )
    value = _float(
        a["/certificate/global_min_value"].value, "certificate L*", name, bound, CertificateError
    )
    tolerance = _float(
        a["/certificate/hit_tolerance"].value, "the hit tolerance", name, bound, CertificateError
    )
    if not tolerance > 0:
        raise CertificateError(
            f"{name}: the hit tolerance is {tolerance!r}; it must be positive; {ADVICE}"
        )
    minimizer = _floats(
        x["certificate/global_minimizer"], "certificate/global_minimizer", name, bound
    )
    for key in ("method", "effort"):
        if not a[f"/certificate/{key}"].value.strip():
            raise InvalidValueError(f"{name}: certificate {key} is empty; {ADVICE}")
    minima = a.get("/certificate/num_local_minima")
    count = None if minima is None else minima.value
    values = x.get("certificate/ladder_values")
    counts = x.get("certificate/ladder_counts")
    _check_kind_fields(kind, count, values is not None, name)
    if count is not None and count < 1:
        raise InvalidValueError(f"{name}: num_local_minima is {count}; it must be >= 1; {ADVICE}")
    if values is not None:
        _check_ladder(kind, values, counts, count, value, tolerance, name, bound)
    signs = x.get("certificate/planted_signs")
    if signs is not None and not np.all(np.abs(signs) == 1):
        raise InvalidValueError(
            f"{name}: certificate/planted_signs has a value other than +1 or -1; {ADVICE}"
        )
    return Certificate(
        kind=kind,
        global_min_value=value,
        global_minimizer=minimizer,
        hit_tolerance=tolerance,
        method=a["/certificate/method"].value,
        effort=a["/certificate/effort"].value,
        num_local_minima=count,
        ladder_values=values,
        ladder_counts=counts,
        planted_signs=signs,
        gradient_variance=_gradient_variance(a, x, name, bound),
    )


VERSION_2_ATTRIBUTES = (
    "/dataset/loss",
    "/certificate/gradient_variance",
    "/certificate/gradient_variance_method",
    "/certificate/gradient_variance_low",
    "/certificate/gradient_variance_high",
    "/certificate/gradient_variance_samples",
)


def _check_version_features(a, x, version: int, name: str) -> None:
    """Version 1 has none of version 2's additions; version 2 states its loss."""
    if version == 1:
        found = [key for key in VERSION_2_ATTRIBUTES if key in a]
        found += ["/" + key for key in ("certificate/gradient_variance_by_depth",) if key in x]
        if found:
            raise CorruptFileError(
                f"{name}: a format-version-1 file has {found[0]}, which only version 2 defines; "
                f"{ADVICE}"
            )
    elif "/dataset/loss" not in a:
        raise CorruptFileError(
            f"{name} is a malformed qnntraps instance: format version 2 states /dataset attribute "
            f"loss, and this file does not; {ADVICE}"
        )


def _gradient_variance(a, x, name: str, bound: float) -> GradientVariance | None:
    prefix = "/certificate/gradient_variance"
    if prefix not in a:
        if (
            any(key.startswith(prefix) for key in a)
            or "certificate/gradient_variance_by_depth" in x
        ):
            raise CertificateError(
                f"{name}: /certificate has gradient_variance fields without gradient_variance; "
                f"{ADVICE}"
            )
        return None
    method = a.get(prefix + "_method")
    if method is None or method.value not in GRADIENT_VARIANCE_METHODS:
        raise CertificateError(
            f"{name}: certificate gradient_variance_method is "
            f"{show(method.value) if method else 'missing'}; the format knows "
            f"{', '.join(GRADIENT_VARIANCE_METHODS)}; {ADVICE}"
        )
    value = _float(a[prefix].value, "the gradient variance", name, bound, CertificateError)
    sampled = [a.get(prefix + suffix) for suffix in ("_low", "_high", "_samples")]
    by_depth = x.get("certificate/gradient_variance_by_depth")
    if method.value == "sampled":
        if any(v is None for v in sampled) or by_depth is not None:
            raise CertificateError(
                f"{name}: a sampled gradient variance states low, high and samples and no "
                f"by_depth; {ADVICE}"
            )
        low, high = (
            _float(v.value, "a variance bound", name, bound, CertificateError) for v in sampled[:2]
        )
        if not (0 <= low <= value <= high) or sampled[2].value < 2:
            raise CertificateError(
                f"{name}: the sampled gradient variance {value!r} is not inside its interval "
                f"[{low!r}, {high!r}] from at least 2 samples; {ADVICE}"
            )
        return GradientVariance(value, "sampled", low, high, sampled[2].value)
    if any(v is not None for v in sampled) or by_depth is None:
        raise CertificateError(
            f"{name}: an exact gradient variance has by_depth and no low, high or samples; {ADVICE}"
        )
    _floats(by_depth, "certificate/gradient_variance_by_depth", name, bound)
    if np.any(by_depth < 0) or by_depth[-1] != value or not value > 0:
        raise CertificateError(
            f"{name}: certificate/gradient_variance_by_depth has a negative entry or does not end "
            f"at gradient_variance = {value!r} > 0; {ADVICE}"
        )
    return GradientVariance(value, "exact", by_depth=by_depth)


def _check_spectral(certificate: Certificate, dataset: Dataset, name: str) -> None:
    if certificate.kind == "spectral" and (
        dataset.loss != "expectation" or not np.all(dataset.labels > 0)
    ):
        raise CertificateError(
            f"{name}: a spectral certificate needs the expectation loss with positive weights "
            f"(labels); {ADVICE}"
        )
    if certificate.kind == "planted" and (
        dataset.loss != "square" or certificate.global_min_value != 0.0
    ):
        raise CertificateError(
            f"{name}: a planted certificate needs the square loss and L* = 0 (a sum of squares "
            f"that vanishes at theta*); {ADVICE}"
        )


def _check_kind_fields(kind: str, count, has_ladder: bool, name: str) -> None:
    if kind in COMPLETE_LADDER_KINDS and count is None:
        raise CertificateError(
            f"{name}: a {kind} certificate states num_local_minima, and this one does not; {ADVICE}"
        )
    if kind == "enumerated" and not has_ladder:
        raise CertificateError(f"{name}: an enumerated certificate has no ladder; {ADVICE}")
    if kind == "spectral" and (count is not None or has_ladder):
        raise CertificateError(
            f"{name}: a spectral certificate has no ladder and no num_local_minima; {ADVICE}"
        )
    if kind == "planted" and count is not None:
        raise CertificateError(
            f"{name}: a planted certificate has no num_local_minima (the number of minima is "
            f"not known); {ADVICE}"
        )
    if kind in MULTISTART_KINDS and (count is not None or not has_ladder):
        raise CertificateError(
            f"{name}: a {kind} certificate stores the multistart's ladder and no "
            f"num_local_minima (the number of minima is not known); {ADVICE}"
        )


def _check_ladder(kind, values, counts, count, value, tolerance, name, bound) -> None:
    _floats(values, "certificate/ladder_values", name, bound)
    if values.size > 1 and not np.all(np.diff(values) > 0):
        raise CertificateError(
            f"{name}: certificate/ladder_values is not strictly ascending; {ADVICE}"
        )
    if np.any(counts < 1):
        raise CertificateError(f"{name}: certificate/ladder_counts has a count below 1; {ADVICE}")
    # A planted ladder may start above L* + tolerance (no start reached theta*'s value), never
    # below L*; every other kind's ladder starts at L*.
    if kind == "planted" and values[0] < value - tolerance:
        raise CertificateError(
            f"{name}: the lowest ladder value {float(values[0])!r} is below L* = {value!r}; "
            f"{ADVICE}"
        )
    if kind != "planted" and abs(values[0] - value) > tolerance:
        raise CertificateError(
            f"{name}: the lowest ladder value {float(values[0])!r} is not within the hit tolerance of "
            f"L* = {value!r}; {ADVICE}"
        )
    if values.size > 1 and values[1] - value <= tolerance:
        raise CertificateError(
            f"{name}: the second ladder value {float(values[1])!r} would count as a hit (tolerance "
            f"{tolerance!r} is too large for L* = {value!r}); {ADVICE}"
        )
    if kind in COMPLETE_LADDER_KINDS:
        # exact sum of int64 counts without overflow: split each into 31-bit halves
        high = int(np.sum(counts >> 31))
        low = int(np.sum(counts & (2**31 - 1)))
        total = high * 2**31 + low
        if total != count:
            raise CertificateError(
                f"{name}: the ladder counts add up to {total}, but num_local_minima is {count}; "
                f"{ADVICE}"
            )


def _provenance(a, instance_id: str, p: int, m: int, name: str, limits) -> Provenance:
    generator_version = a["/provenance/generator_version"].value
    if generator_version < 1:
        raise InvalidValueError(f"{name}: provenance generator_version is below 1; {ADVICE}")
    prefix = "/provenance/parameters/"
    parameters = []
    for key, attr in a.items():
        if not key.startswith(prefix):
            continue
        if attr.tag == "f8":
            _float(attr.value, f"provenance parameter {key[len(prefix) :]}", name, float("inf"))
        parameters.append((key[len(prefix) :], attr.value))
    parameters = tuple(sorted(parameters))
    known = dict(parameters)
    for key, expected in (("p", p), ("num_samples", m)):
        if key in known and known[key] != expected:
            raise InvalidValueError(
                f"{name}: provenance parameter {key} = {show(known[key])} differs from the file's "
                f"{expected}; {ADVICE}"
            )
    return Provenance(
        family=a["/provenance/family"].value,
        generator_version=generator_version,
        seed=a["/provenance/seed"].value,
        parameters=parameters,
    )


# ---------------------------------------------------------------- the certificate, evaluated


def recheck_certificate(instance: Instance, name: str) -> None:
    """Evaluate the loss at and around theta*: L(theta*) = L*, and for every kind but spectral
    and planted a stationary point with no negative curvature along any coordinate (a spectral
    or planted theta* attains a lower bound, checked instead: the observable's smallest
    eigenvalue, or 0 for a square loss). Raises CertificateError otherwise."""
    cert = instance.certificate
    attains_bound = cert.kind in BOUND_KINDS
    if cert.kind == "spectral":
        _check_spectral_bound(instance, name)
    p = instance.num_parameters
    theta = cert.global_minimizer
    step = PROBE_STEP * np.eye(p)
    points = (
        theta[None, :] if attains_bound else np.vstack([theta[None, :], theta + step, theta - step])
    )
    with np.errstate(all="ignore"):
        losses = _evaluate(instance, points, name)
    at, plus, minus = losses[0], losses[1 : p + 1], losses[p + 1 :]
    value = cert.global_min_value
    if not np.isfinite(at) or abs(at - value) > VALUE_TOLERANCE * max(1.0, abs(value)):
        raise CertificateError(
            f"{name}: the loss at the certified minimizer is {float(at)!r}, not L* = {value!r} (to "
            f"{VALUE_TOLERANCE:g}); the certificate is wrong; {ADVICE}"
        )
    if attains_bound:
        return
    with np.errstate(all="ignore"):
        gradient = (plus - minus) / (2 * PROBE_STEP)
        curvature = (plus + minus - 2 * at) / PROBE_STEP**2
    if not np.all(np.isfinite(gradient)) or np.max(np.abs(gradient)) > GRADIENT_TOLERANCE:
        raise CertificateError(
            f"{name}: the certified minimizer is not a stationary point (a gradient component "
            f"of {np.max(np.abs(gradient)):.3g}); the certificate is wrong; {ADVICE}"
        )
    if not np.all(np.isfinite(curvature)) or np.min(curvature) < -CURVATURE_TOLERANCE:
        raise CertificateError(
            f"{name}: the certified minimizer is not a minimum (curvature "
            f"{np.min(curvature):.3g} along a coordinate); the certificate is wrong; {ADVICE}"
        )


def _check_spectral_bound(instance: Instance, name: str) -> None:
    """A spectral L* is mean(y) lambda_min(M), a lower bound on the loss."""
    from qnntraps.certificates.spectral import observable_minimum

    cert = instance.certificate
    value = cert.global_min_value
    try:
        bound = float(np.mean(instance.dataset.labels)) * observable_minimum(
            instance.observable, instance.num_qubits
        )
    except UnsupportedStructureError as error:
        raise CertificateError(
            f"{name}: this qnntraps cannot find the smallest eigenvalue of this observable "
            f"({error}), so it cannot re-check the certificate; upgrade qnntraps"
        ) from error
    if abs(bound - value) > VALUE_TOLERANCE * max(1.0, abs(value)):
        raise CertificateError(
            f"{name}: a spectral L* is mean(labels) times the smallest eigenvalue of the "
            f"observable, {bound!r}, not {value!r}; the certificate is wrong; {ADVICE}"
        )


def _evaluate(instance: Instance, points: np.ndarray, name: str) -> np.ndarray:
    """Exact losses at `points` (R, p) through the instance's compiled CPU evaluator; for the
    product form, its fixed-order NumPy evaluation (the one that computed stored certificates)."""
    import torch

    from qnntraps.simulators.evaluate import cpu_evaluator
    from qnntraps.simulators.evaluator import product_form_strategy
    from qnntraps.simulators.product_form import product_form_loss

    # amplitude updates of the statevector simulator, bounded before it allocates anything:
    # points x (gates + 1) x inputs as pure states x 2^n. Beyond the bound only the product
    # form may evaluate the file; within it, the instance's own CPU evaluator (kept for later).
    ansatz = instance.ansatz
    inputs = instance.dataset.inputs
    terms = 2**instance.num_qubits if isinstance(inputs, PauliMixtureStates) else 1
    work = len(points) * (ansatz.generators.shape[0] + 1) * instance.num_samples * terms
    work *= 2**instance.num_qubits
    affordable = work <= STATEVECTOR_MAX_WORK
    try:
        evaluator = (
            cpu_evaluator(instance) if affordable else product_form_strategy(instance, "cpu")
        )
    except UnsupportedStructureError as error:
        if not affordable:
            raise CertificateError(
                f"{name}: re-checking this certificate would take {work:.2g} amplitude updates, "
                f"more than the {STATEVECTOR_MAX_WORK:.0g} a reader spends; the file is refused"
            ) from error
        raise CertificateError(
            f"{name}: this qnntraps cannot evaluate the loss of this instance ({error}), so it "
            "cannot re-check the certificate; upgrade qnntraps"
        ) from error
    form = getattr(evaluator, "form", None)
    if form is not None:
        per_point = max(1, form.a.size)
        chunk = max(1, PROBE_CHUNK_ELEMENTS // per_point)
        return np.concatenate(
            [product_form_loss(form, points[i : i + chunk]) for i in range(0, len(points), chunk)]
        )
    return evaluator.loss(torch.from_numpy(np.array(points, dtype=np.float64))).numpy()
