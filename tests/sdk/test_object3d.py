"""Object3D, box3d and Molecule: construction as wandb 0.31's, their errors, equality,
and storage through a run read back with use_artifact(...).get(...)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

import tablelog as wandb
from tablelog.errors import MediaError

PDB = "ATOM      1  N   ALA A   1      11.104  13.207   2.100  1.00  0.00           N\nEND\n"


def _cloud(n: int = 50, width: int = 6) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(n, width))


@pytest.mark.parametrize("width", [3, 4, 6])
def test_a_numpy_point_cloud_is_stored_as_wandbs_pts_json(width: int) -> None:
    cloud = _cloud(width=width)
    obj = wandb.Object3D(cloud, caption="scan")
    cloud[0, 0] = 99.0  # the value holds its own copy
    data, meta = obj._encode()
    assert meta == {"format": "pts.json", "points": 50, "caption": "scan"}
    assert json.loads(data) == _cloud(width=width).tolist()
    assert obj == wandb.Object3D.from_numpy(_cloud(width=width))
    assert obj != wandb.Object3D(_cloud(width=width) + 1)


def test_non_finite_points_are_json_null_and_read_back_as_nan() -> None:
    cloud = _cloud(width=3)
    cloud[2] = [np.nan, np.inf, 1.0]
    data, _ = wandb.Object3D(cloud)._encode()
    assert json.loads(data)[2] == [None, None, 1.0]
    back = wandb.Object3D._from_encoded(data, {"format": "pts.json", "points": 50})
    array = back.to_data_array()
    assert np.isnan(array[2, :2]).all() and array[2, 2] == 1.0
    np.testing.assert_array_equal(array[3:], cloud[3:])


@pytest.mark.parametrize("bad", [np.zeros((4, 5)), np.zeros(3), np.zeros((2, 3, 3))])
def test_wrong_shapes_are_refused_with_wandbs_words(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="The shape of the numpy array must be one of"):
        wandb.Object3D(bad)


def test_box3d_corners_and_a_scene_with_boxes_and_vectors() -> None:
    box = wandb.box3d(center=[1, 2, 3], size=[2, 4, 6], orientation=[1, 0, 0, 0],
                      color=[1, 0, 0], label="car", score=0.8)
    corners = np.array(box["corners"])
    assert corners.min(0).tolist() == [0, 0, 0] and corners.max(0).tolist() == [2, 4, 6]
    turned = wandb.box3d(center=[0, 0, 0], size=[2, 4, 6],
                         orientation=[np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)],
                         color=[0, 1, 0])
    # a quarter turn about z swaps the box's extent along x and y
    np.testing.assert_allclose(np.array(turned["corners"]).max(0), [2, 1, 3], atol=1e-9)
    scene = wandb.Object3D.from_point_cloud(
        points=_cloud(width=3), boxes=[box], vectors=[{"start": [0, 0, 0], "end": [1, 1, 1]}])
    stored = json.loads(scene._encode()[0])
    assert stored["type"] == "lidar/beta" and len(stored["points"]) == 50
    assert stored["boxes"][0]["label"] == "car" and len(stored["boxes"][0]["corners"]) == 8
    assert stored["vectors"] == [{"start": [0, 0, 0], "end": [1, 1, 1]}]
    np.testing.assert_array_equal(scene.to_data_array(), _cloud(width=3))


@pytest.mark.parametrize(("scene", "message"), [
    ({"type": "mesh"}, "only 'lidar/beta'"),
    ({"type": "lidar/beta", "points": np.zeros((3, 2))}, "shape"),
    ({"type": "lidar/beta", "boxes": [{"corners": [[0, 0, 0]] * 7}]}, "box 0 .* 8 corners"),
    ({"type": "lidar/beta", "boxes": [{"label": "x"}]}, "box 0 .* 'corners'"),
    ({"type": "lidar/beta", "vectors": [{"start": [0, 0, 0]}]}, "vector 0 .* 'end'"),
])
def test_a_bad_scene_names_what_is_wrong(scene: dict, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        wandb.Object3D(scene)
    with pytest.raises(MediaError, match="box3d: size"):
        wandb.box3d(center=[0, 0, 0], size=[1, 1], orientation=[1, 0, 0, 0], color=[1, 1, 1])


def test_files_by_path_and_by_file_object(tmp_path: Path) -> None:
    mesh = tmp_path / "tri.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    by_path = wandb.Object3D(mesh)
    assert by_path.format == "obj" and by_path._encode()[0] == mesh.read_bytes()
    with open(mesh) as f:  # an open file with a name is read by its path, as wandb
        assert wandb.Object3D(f) == by_path
    glb = wandb.Object3D(io.BytesIO(b"glTF\x02\x00\x00\x00"), file_type="glb")
    assert glb.format == "glb" and glb._encode()[0].startswith(b"glTF")
    with pytest.raises(ValueError, match="Must pass file_type"):
        wandb.Object3D(io.StringIO("v 0 0 0"))
    with pytest.raises(ValueError, match="is not compatible with Object3D"):
        wandb.Object3D(str(tmp_path / "cloud.ply"))
    with pytest.raises(ValueError, match="numpy array, dict or a file object"):
        wandb.Object3D(42)
    with pytest.raises(MediaError, match="no point array"):
        by_path.to_data_array()


def test_molecule_files_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "ala.pdb"
    path.write_text(PDB)
    mol = wandb.Molecule(path, caption="alanine")
    assert mol.format == "pdb" and mol._encode() == (PDB.encode(), {"format": "pdb",
                                                                   "caption": "alanine"})
    assert wandb.Molecule(io.StringIO(PDB), file_type="pdb")._encode()[0] == PDB.encode()
    with pytest.raises(ValueError, match="Molecule only supports files of the type"):
        wandb.Molecule(tmp_path / "x.xyz")
    with pytest.raises(ValueError, match="Must pass file_type"):
        wandb.Molecule(io.StringIO(PDB))
    with pytest.raises(ValueError, match="file name or a file object"):
        wandb.Molecule(3)
    try:
        import rdkit  # noqa: F401
    except ImportError:
        with pytest.raises(MediaError, match="needs the rdkit package"):
            wandb.Molecule.from_smiles("CCO")


def test_stored_through_a_run_and_read_back(queue_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "ala.pdb"
    path.write_text(PDB)
    mesh = tmp_path / "tri.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    cloud = wandb.Object3D(_cloud(width=4), caption="lidar")
    scene = wandb.Object3D.from_point_cloud(
        _cloud(width=3), [wandb.box3d(center=[0, 0, 0], size=[1, 1, 1],
                                      orientation=[1, 0, 0, 0], color=[1, 0, 0])])
    row = [cloud, scene, wandb.Object3D(mesh), wandb.Molecule(path)]
    with wandb.init(project="three-d") as run:
        run.log({"objects": wandb.Table(columns=["cloud", "scene", "mesh", "mol"], data=[row]),
                 "cloud": cloud})
        art = wandb.Artifact("shapes", "dataset")
        art.add(cloud, "cloud")
        art.add(wandb.Molecule(path), "mol")
        run.log_artifact(art)
        table = run.use_artifact(f"run-{run.id}-objects:latest").get("objects")
        back = table.data[0]
        assert back == row
        assert back[0].caption == "lidar" and back[0].points == 50
        np.testing.assert_array_equal(back[0].to_data_array(), _cloud(width=4))
        assert [type(v).__name__ for v in back] == ["Object3D", "Object3D", "Object3D",
                                                    "Molecule"]
        shapes = run.use_artifact("shapes:latest")
        assert shapes.get("cloud") == cloud and shapes.get("mol") == wandb.Molecule(path)
