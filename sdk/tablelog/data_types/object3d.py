"""3D values as wandb 0.31 takes them: `Object3D` (point clouds and mesh files),
`box3d` (an oriented 3D box for a point cloud) and `Molecule` (a structure file).

- ``Object3D(array)``: an ``(N, 3)`` array of x, y, z; ``(N, 4)`` x, y, z and a
  category (1-14); ``(N, 6)`` x, y, z, r, g, b. Stored as wandb stores it, a
  ``.pts.json`` file of the points (a list of lists); a non-finite coordinate is
  written as ``null`` and read back as NaN (a lidar scan marks "no return" so).
- ``Object3D({"type": "lidar/beta", "points", "boxes", "vectors"})`` and
  `Object3D.from_point_cloud`: a scene, stored as its ``.pts.json`` object; a box
  is ``{"corners": 8 points, "label", "color": [r, g, b], "score"}`` (`box3d`
  makes one from a centre, a size and a quaternion), a vector ``{"start", "end"}``.
- ``Object3D(path)`` / ``Object3D.from_file``: an ``.obj``, ``.gltf``, ``.glb``,
  ``.babylon``, ``.stl`` or ``.pts.json`` file, stored byte for byte; a file
  object needs ``file_type=``.
- ``Molecule(path | file object, caption=None, file_type=None)``: a pdb, pqr, mmcif,
  mcif, cif, sdf, sd, gro, mol2 or mmtf file, stored byte for byte.
  ``from_rdkit``/``from_smiles`` need RDKit, as in wandb.

Errors are `MediaError`, a ValueError as wandb raises, with wandb's wording where
it has one.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from tablelog.data_types.media_base import Media, read_source
from tablelog.errors import MediaError

SHAPE_ERROR = ("The shape of the numpy array must be one of either: (N, 3) [x y z], (N, 4) "
               "[x y z c] where c is a category with supported range [1, 14], or (N, 6) "
               "[x y z r g b] where rgb is color")


def _finite_or_none(values: Any) -> Any:
    """Nested lists and dicts with every non-finite float as None (JSON has no NaN)."""
    if isinstance(values, list | tuple):
        return [_finite_or_none(v) for v in values]
    if isinstance(values, dict):
        return {k: _finite_or_none(v) for k, v in values.items()}
    if isinstance(values, float) and not math.isfinite(values):
        return None
    return values


def _points(data: Any, where: str, *, allow_empty: bool = False) -> np.ndarray[Any, Any]:
    array = np.asarray(data)
    if array.size == 0 and allow_empty:  # a scene of boxes only
        return np.zeros((0, 3))
    if array.ndim != 2 or array.shape[1] not in (3, 4, 6):
        raise MediaError(f"{SHAPE_ERROR}; the {where} has shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise MediaError(f"the {where} must hold numbers, got dtype {array.dtype}")
    return array


def _json_bytes(value: Any) -> bytes:
    return json.dumps(_finite_or_none(value), allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def _check_box(box: Any, i: int) -> dict[str, Any]:
    if not isinstance(box, Mapping) or "corners" not in box:
        raise MediaError(f"box {i} of the point cloud must be a dict with 'corners' (8 x, y, z "
                         f"points; see tablelog.box3d), got {box!r}"[:300])
    corners = np.asarray(box["corners"], dtype=np.float64)
    if corners.shape != (8, 3):
        raise MediaError(f"box {i} of the point cloud needs 8 corners of x, y, z, got an "
                         f"array of shape {corners.shape}")
    out = dict(box)
    out["corners"] = corners.tolist()
    if "color" in out and out["color"] is not None:
        color = np.asarray(out["color"], dtype=np.float64)
        if color.shape != (3,):
            raise MediaError(f"box {i} of the point cloud: 'color' is (r, g, b), got "
                             f"{out['color']!r}")
        out["color"] = color.tolist()
    return out


def _check_vector(vector: Any, i: int) -> dict[str, Any]:
    if not isinstance(vector, Mapping) or "start" not in vector or "end" not in vector:
        raise MediaError(f"vector {i} of the point cloud must be a dict with 'start' and "
                         f"'end', got {vector!r}"[:300])
    out = dict(vector)
    for end in ("start", "end"):
        point = np.asarray(vector[end], dtype=np.float64)
        if point.shape != (3,):
            raise MediaError(f"vector {i} of the point cloud: {end!r} is one x, y, z point, "
                             f"got {vector[end]!r}")
        out[end] = point.tolist()
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        return list(value.tolist()) if value.dtype != object else list(value)
    return list(value)


def _scene(data: Mapping[str, Any]) -> dict[str, Any]:
    """A checked lidar/beta scene: points a private array, boxes and vectors as lists."""
    if data.get("type") != "lidar/beta":
        raise MediaError("Type not supported, only 'lidar/beta' is currently supported "
                         f"(got {data.get('type')!r})")
    points = _points(data.get("points", []), "point cloud's points", allow_empty=True)
    return {"type": "lidar/beta", "points": np.array(points),
            "boxes": [_check_box(b, i) for i, b in enumerate(_as_list(data.get("boxes")))],
            "vectors": [_check_vector(v, i)
                        for i, v in enumerate(_as_list(data.get("vectors")))]}


def _quaternion_matrix(q: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The rotation matrix of the (non-zero) quaternion r + xi + yj + zk, applied to row
    vectors (``v @ m``)."""
    norm = float(np.linalg.norm(q))
    if norm == 0:
        raise MediaError("box3d: the orientation quaternion is zero")
    r, x, y, z = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y + r * z), 2 * (x * z - r * y)],
        [2 * (x * y - r * z), 1 - 2 * (x * x + z * z), 2 * (y * z + r * x)],
        [2 * (x * z + r * y), 2 * (y * z - r * x), 1 - 2 * (x * x + y * y)]])


def box3d(*, center: Any, size: Any, orientation: Any, color: Sequence[float],
          label: str | None = None, score: float | None = None) -> dict[str, Any]:
    """A 3D box for `Object3D.from_point_cloud`, as ``wandb.box3d``: centre (x, y, z),
    size along its own axes, orientation the quaternion [r, x, y, z] that turns global
    axes into the box's, colour (r, g, b) in 0-1."""
    c = np.asarray(center, dtype=np.float64)
    s = np.asarray(size, dtype=np.float64)
    q = np.asarray(orientation, dtype=np.float64)
    for name, value, n in (("center", c, 3), ("size", s, 3), ("orientation", q, 4)):
        if value.shape != (n,):
            raise MediaError(f"box3d: {name} must have {n} numbers, got shape {value.shape}")
    unit = np.array(list(itertools.product((-1, 1), (-1, 1), (-1, 1))), dtype=np.float64)
    corners = c + (0.5 * s * unit) @ _quaternion_matrix(q)
    return {"corners": tuple(tuple(float(v) for v in p) for p in corners),
            "color": color, "label": label, "score": score}


def _named_path(data: Any) -> Any:
    """An open file that has a path on disk is read by its path, as wandb does (the
    type then comes from its name); anything else is returned unchanged."""
    name = getattr(data, "name", None)
    if hasattr(data, "read") and isinstance(name, str) and os.path.isfile(name):
        return name
    return data


def _read_file_object(data: Any, file_type: str | None, what: str,
                      supported: Sequence[str]) -> tuple[bytes, str]:
    if hasattr(data, "seek"):
        data.seek(0)
    content = data.read()
    if file_type is None:
        raise MediaError("Must pass file_type keyword argument when using io objects.")
    if file_type not in supported:
        raise MediaError(f"{what} only supports files of the type: {', '.join(supported)} "
                         f"(got file_type={file_type!r})")
    return (content if isinstance(content, bytes) else str(content).encode("utf-8")), file_type


class Object3D(Media):
    """A point cloud or a 3D file, as ``wandb.Object3D`` (see the module docstring)."""

    _kind = "object3D"
    SUPPORTED_TYPES: ClassVar[tuple[str, ...]] = (
        "obj", "gltf", "glb", "babylon", "stl", "pts.json")
    SUPPORTED_POINT_CLOUD_TYPES: ClassVar[tuple[str, ...]] = ("lidar/beta",)

    def __init__(self, data_or_path: Any, caption: str | None = None, **kwargs: Any) -> None:
        super().__init__(caption)
        file_type = kwargs.pop("file_type", None)
        if kwargs:
            raise TypeError(f"Object3D got unexpected keyword arguments: {sorted(kwargs)}")
        self.points: int | None = None  # how many, for a point cloud
        # A point cloud keeps a private copy of its points (and a scene its boxes and
        # vectors) until the writer thread encodes it: JSON of many points is slow.
        self._array: np.ndarray[Any, Any] | None = None
        self._scene: dict[str, Any] | None = None
        self._file_bytes: bytes | None = None
        data_or_path = _named_path(data_or_path)
        if hasattr(data_or_path, "read"):
            self._file_bytes, self.format = _read_file_object(
                data_or_path, file_type, "Object 3D", self.SUPPORTED_TYPES)
        elif isinstance(data_or_path, str | os.PathLike):
            path = os.fspath(data_or_path)
            fmt = next((t for t in self.SUPPORTED_TYPES if path.endswith("." + t)), None)
            if fmt is None:
                raise MediaError(f"File '{path}' is not compatible with Object3D: supported "
                                 f"types are: {', '.join(self.SUPPORTED_TYPES)}")
            self._file_bytes, self.format = read_source(path, "Object3D"), fmt
        elif isinstance(data_or_path, Mapping) and "type" in data_or_path:
            self._scene = _scene(data_or_path)
            self._array = self._scene.pop("points")
            self.format, self.points = "pts.json", len(self._array)
        elif isinstance(data_or_path, np.ndarray):
            array = _points(data_or_path, "numpy array")
            self._array = np.array(array)
            self.format, self.points = "pts.json", len(array)
        else:
            raise MediaError("data must be a numpy array, dict or a file object, got "
                             f"{type(data_or_path).__name__}")

    @classmethod
    def from_file(cls, data_or_path: Any, file_type: str | None = None) -> Object3D:
        return cls(data_or_path, file_type=file_type)

    @classmethod
    def from_numpy(cls, data: Any) -> Object3D:
        if not isinstance(data, np.ndarray):
            raise MediaError("`data` must be a numpy array")
        return cls(data)

    @classmethod
    def from_point_cloud(cls, points: Any, boxes: Any, vectors: Any = None,
                         point_cloud_type: str = "lidar/beta") -> Object3D:
        if point_cloud_type not in cls.SUPPORTED_POINT_CLOUD_TYPES:
            raise MediaError("Point cloud type not supported")
        return cls({"type": point_cloud_type, "points": points, "boxes": boxes,
                    "vectors": vectors})

    def _encode_now(self) -> tuple[bytes, dict[str, Any]]:
        meta: dict[str, Any] = {"format": self.format}
        if self.points is not None:
            meta["points"] = self.points
        if self._file_bytes is not None:
            return self._file_bytes, meta
        assert self._array is not None
        points = self._array.tolist()
        if self._scene is None:
            return _json_bytes(points), meta
        return _json_bytes({**self._scene, "points": points}), meta

    def _after_encode(self) -> None:
        self._array = self._scene = None  # the bytes hold them now

    def _restore(self, meta: dict[str, Any]) -> None:
        assert self._encoded is not None
        self._file_bytes, self._array, self._scene = self._encoded[0], None, None
        self.format = str(meta.get("format", "pts.json"))
        self.points = meta.get("points")

    def to_data_array(self) -> np.ndarray[Any, Any]:
        """The points of a point cloud, (N, 3|4|6) floats (NaN where a value was not
        finite); a mesh file has none (MediaError)."""
        if self.format != "pts.json":
            raise MediaError(f"an Object3D from a .{self.format} file has no point array")
        if self._array is not None:
            return np.array(self._array, dtype=np.float64)
        value = json.loads(self._encode()[0])
        points = value.get("points", []) if isinstance(value, dict) else value
        return np.array([[np.nan if v is None else v for v in p] for p in points],
                         dtype=np.float64).reshape(-1, len(points[0]) if points else 3)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Object3D):
            return NotImplemented
        return self.format == other.format and self._same_bytes(other)

    __hash__ = None


class Molecule(Media):
    """A molecule structure file, as ``wandb.Molecule`` (see the module docstring)."""

    _kind = "molecule"
    SUPPORTED_TYPES: ClassVar[tuple[str, ...]] = (
        "pdb", "pqr", "mmcif", "mcif", "cif", "sdf", "sd", "gro", "mol2", "mmtf")
    SUPPORTED_RDKIT_TYPES: ClassVar[tuple[str, ...]] = ("mol", "sdf")

    def __init__(self, data_or_path: Any, caption: str | None = None, **kwargs: Any) -> None:
        super().__init__(caption)
        file_type = kwargs.pop("file_type", None)
        if kwargs:
            raise TypeError(f"Molecule got unexpected keyword arguments: {sorted(kwargs)}")
        data_or_path = _named_path(data_or_path)
        if hasattr(data_or_path, "read"):
            self._file_bytes, self.format = _read_file_object(
                data_or_path, file_type, "Molecule 3D", self.SUPPORTED_TYPES)
        elif isinstance(data_or_path, str | os.PathLike):
            path = os.fspath(data_or_path)
            fmt = os.path.splitext(path)[1][1:]
            if fmt not in self.SUPPORTED_TYPES:
                raise MediaError("Molecule only supports files of the type: "
                                 f"{', '.join(self.SUPPORTED_TYPES)} (got {path!r})")
            self._file_bytes, self.format = read_source(path, "Molecule"), fmt
        else:
            raise MediaError("Data must be file name or a file object, got "
                             f"{type(data_or_path).__name__}")

    @classmethod
    def from_rdkit(cls, data_or_path: Any, caption: str | None = None,
                   convert_to_3d_and_optimize: bool = True,
                   mmff_optimize_molecule_max_iterations: int = 200) -> Molecule:
        """A molecule from an RDKit ``Mol`` or a .mol/.sdf file, stored as PDB (RDKit
        needed, as in wandb)."""
        import io

        chem, all_chem = _rdkit()
        if isinstance(data_or_path, str | os.PathLike):
            path = os.fspath(data_or_path)
            ext = os.path.splitext(path)[1][1:]
            if ext not in cls.SUPPORTED_RDKIT_TYPES:
                raise MediaError("Molecule.from_rdkit only supports files of the type: "
                                 f"{', '.join(cls.SUPPORTED_RDKIT_TYPES)}")
            mol = (next(iter(chem.SDMolSupplier(path))) if ext == "sdf"
                   else chem.MolFromMolFile(path))
        elif isinstance(data_or_path, chem.rdchem.Mol):
            mol = data_or_path
        else:
            raise TypeError("Data must be file name or an rdkit.Chem.rdchem.Mol object")
        if convert_to_3d_and_optimize:
            mol = chem.AddHs(mol)
            all_chem.EmbedMolecule(mol)
            all_chem.MMFFOptimizeMolecule(mol, maxIters=mmff_optimize_molecule_max_iterations)
        return cls(io.StringIO(chem.rdmolfiles.MolToPDBBlock(mol)), caption=caption,
                   file_type="pdb")

    @classmethod
    def from_smiles(cls, data: str, caption: str | None = None, sanitize: bool = True,
                    convert_to_3d_and_optimize: bool = True,
                    mmff_optimize_molecule_max_iterations: int = 200) -> Molecule:
        chem, _ = _rdkit()
        mol = chem.MolFromSmiles(data, sanitize=sanitize)
        if mol is None:
            raise MediaError("Unable to parse the SMILES string.")
        return cls.from_rdkit(mol, caption=caption,
                              convert_to_3d_and_optimize=convert_to_3d_and_optimize,
                              mmff_optimize_molecule_max_iterations=(
                                  mmff_optimize_molecule_max_iterations))

    def _encode_now(self) -> tuple[bytes, dict[str, Any]]:
        return self._file_bytes, {"format": self.format}

    def _restore(self, meta: dict[str, Any]) -> None:
        assert self._encoded is not None
        self._file_bytes = self._encoded[0]
        self.format = str(meta.get("format", "pdb"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Molecule):
            return NotImplemented
        return self.format == other.format and self._file_bytes == other._file_bytes

    __hash__ = None


def _rdkit() -> tuple[Any, Any]:
    try:
        from rdkit import Chem
        from rdkit.Chem import AllChem
    except ImportError as exc:
        raise MediaError('tablelog.Molecule needs the rdkit package. To get it, run '
                         '"pip install rdkit".') from exc
    return Chem, AllChem
