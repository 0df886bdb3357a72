"""Avatar models (GLB) made at test time with pygltflib, shaped like what operators load.

- ``jaw_bone_head``: a head skinned to two bones, ``Head`` and its child ``Jaw`` (the lower face
  and the chin), with an ``Idle`` clip that turns the head from side to side.
- ``morph_target_head``: a head whose face moves by ARKit blend shapes (``jawOpen``,
  ``mouthFunnel``, ``mouthPucker``, ``mouthSmileLeft``/``Right``, ``eyeBlinkLeft``/``Right``),
  with an ``Idle`` clip that sways the whole model.

Both face +z (glTF's front), 1 unit about a head's height, coloured by vertex (skin, a dark mouth,
dark eyes) so that what moves shows in a screenshot.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pygltflib as g

type Array = npt.NDArray[np.float32]

SKIN = (0.42, 0.48, 0.95)
DARK = (0.08, 0.05, 0.12)
JAW_SKIN = (0.33, 0.38, 0.85)
#: Where the jaw bone sits, under the ears, relative to the head bone (the base of the skull).
JAW_HINGE = (0.0, 0.36, -0.06)
ARKIT = (
    "jawOpen",
    "mouthFunnel",
    "mouthPucker",
    "mouthSmileLeft",
    "mouthSmileRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
)


def _sphere(rows: int = 40, columns: int = 56) -> tuple[Array, npt.NDArray[np.uint32]]:
    """A unit UV sphere: vertices (n, 3) and triangle indices."""
    theta = np.linspace(0, math.pi, rows + 1)
    phi = np.linspace(0, 2 * math.pi, columns + 1)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    vertices = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], axis=-1).reshape(-1, 3)
    faces = []
    for r in range(rows):
        for c in range(columns):
            a = r * (columns + 1) + c
            b = a + columns + 1
            faces += [(a, b, a + 1), (a + 1, b, b + 1)]
    return vertices.astype(np.float32), np.array(faces, dtype=np.uint32).reshape(-1)


def _head() -> tuple[Array, Array, Array, npt.NDArray[np.uint32]]:
    """Positions, normals, colours and indices of a head resting on y=0 (centre at y=0.5)."""
    unit, indices = _sphere()
    radii = np.array([0.42, 0.5, 0.45], dtype=np.float32)
    positions = unit * radii + np.array([0, 0.5, 0], dtype=np.float32)
    normals = unit / radii
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    x, y, z = positions[:, 0], positions[:, 1], positions[:, 2]
    colours = np.tile(np.array(SKIN, dtype=np.float32), (len(positions), 1))
    front = z > 0.2
    colours[front & (np.abs(x) < 0.16) & (np.abs(y - 0.3) < 0.035)] = DARK  # the mouth
    for side in (-1, 1):
        colours[front & (np.hypot(x - side * 0.15, y - 0.6) < 0.06)] = DARK  # the eyes
    return positions, normals.astype(np.float32), colours, indices


class _Builder:
    """Accessors over one binary buffer."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.gltf = g.GLTF2(asset=g.Asset(version="2.0", generator="voice_testkit"))

    def add(
        self, data: npt.NDArray[np.generic], kind: str, *, target: int | None = None, bounds: bool = False
    ) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        raw = np.ascontiguousarray(data).tobytes()
        self.gltf.bufferViews.append(
            g.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=len(raw), target=target)
        )
        self.blob += raw
        component = {np.float32: g.FLOAT, np.uint32: g.UNSIGNED_INT, np.uint16: g.UNSIGNED_SHORT}[
            data.dtype.type
        ]
        accessor = g.Accessor(
            bufferView=len(self.gltf.bufferViews) - 1,
            componentType=component,
            count=len(data),
            type=kind,
        )
        if bounds:
            accessor.min = np.atleast_1d(data.min(axis=0)).tolist()
            accessor.max = np.atleast_1d(data.max(axis=0)).tolist()
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1

    def vertices(self, data: Array) -> int:
        return self.add(data, g.VEC3, target=g.ARRAY_BUFFER, bounds=True)

    def save(self, path: Path) -> Path:
        self.gltf.buffers = [g.Buffer(byteLength=len(self.blob))]
        self.gltf.set_binary_blob(bytes(self.blob))
        self.gltf.save_binary(str(path))
        return path


def _material(builder: _Builder) -> int:
    builder.gltf.materials.append(
        g.Material(pbrMetallicRoughness=g.PbrMetallicRoughness(metallicFactor=0.0, roughnessFactor=0.6))
    )
    return 0


def _idle(builder: _Builder, node: int, angle: float) -> None:
    """An ``Idle`` clip: node ``node`` turns by ``angle`` radians about y and back, in 2 s."""
    times = np.array([0, 1, 2], dtype=np.float32)
    half = angle / 2
    turns = np.array([[0, 0, 0, 1], [0, math.sin(half), 0, math.cos(half)], [0, 0, 0, 1]], dtype=np.float32)
    builder.gltf.animations.append(
        g.Animation(
            name="Idle",
            samplers=[
                g.AnimationSampler(
                    input=builder.add(times, g.SCALAR, bounds=True), output=builder.add(turns, g.VEC4)
                )
            ],
            channels=[
                g.AnimationChannel(sampler=0, target=g.AnimationChannelTarget(node=node, path="rotation"))
            ],
        )
    )


def jaw_bone_head(path: Path) -> Path:
    positions, normals, colours, indices = _head()
    hinge = np.array(JAW_HINGE, dtype=np.float32)
    # The lower face (below the mouth's middle, in front of the hinge) follows the jaw.
    on_jaw = (positions[:, 1] < 0.3) & (positions[:, 2] > hinge[2])
    colours[on_jaw & (colours[:, 0] == SKIN[0])] = JAW_SKIN
    joints = np.zeros((len(positions), 4), dtype=np.uint16)
    joints[on_jaw, 0] = 1
    weights = np.zeros((len(positions), 4), dtype=np.float32)
    weights[:, 0] = 1
    b = _Builder()
    attributes = g.Attributes(
        POSITION=b.vertices(positions),
        NORMAL=b.vertices(normals),
        COLOR_0=b.vertices(colours),
        JOINTS_0=b.add(joints, g.VEC4, target=g.ARRAY_BUFFER),
        WEIGHTS_0=b.add(weights, g.VEC4, target=g.ARRAY_BUFFER),
    )
    primitive = g.Primitive(
        attributes=attributes,
        indices=b.add(indices, g.SCALAR, target=g.ELEMENT_ARRAY_BUFFER),
        material=_material(b),
    )
    inverse_bind = np.stack([np.eye(4, dtype=np.float32), np.eye(4, dtype=np.float32)])
    inverse_bind[1, 3, :3] = -hinge  # column-major: the translation is the last column
    b.gltf.meshes = [g.Mesh(name="Face", primitives=[primitive])]
    b.gltf.skins = [g.Skin(joints=[1, 2], inverseBindMatrices=b.add(inverse_bind.reshape(2, 16), g.MAT4))]
    b.gltf.nodes = [
        g.Node(name="Armature", children=[1]),
        g.Node(name="Head", children=[2]),
        g.Node(name="Jaw", translation=hinge.tolist()),
        g.Node(name="Face", mesh=0, skin=0),
    ]
    b.gltf.scenes = [g.Scene(nodes=[0, 3])]
    b.gltf.scene = 0
    _idle(b, 1, 0.2)
    return b.save(path)


def morph_target_head(path: Path) -> Path:
    positions, normals, colours, indices = _head()
    x, y, z = positions[:, 0], positions[:, 1], positions[:, 2]
    front = np.clip((z - 0.1) / 0.3, 0, 1)
    near_mouth = np.exp(-((x / 0.2) ** 2) - ((y - 0.3) / 0.12) ** 2) * front
    below = np.clip((0.31 - y) / 0.1, 0, 1) * front * np.exp(-((x / 0.3) ** 2))
    deltas: dict[str, Array] = {}
    zero = np.zeros_like(positions)
    deltas["jawOpen"] = zero.copy()
    deltas["jawOpen"][:, 1] = -0.12 * below
    deltas["mouthFunnel"] = zero.copy()
    deltas["mouthFunnel"][:, 2] = 0.05 * near_mouth
    deltas["mouthFunnel"][:, 0] = -0.3 * x * near_mouth
    deltas["mouthPucker"] = deltas["mouthFunnel"] * 0.6
    for name, side in (("mouthSmileLeft", 1), ("mouthSmileRight", -1)):
        deltas[name] = zero.copy()
        deltas[name][:, 1] = 0.03 * near_mouth * np.clip(side * x / 0.15, 0, 1)
    for name, side in (("eyeBlinkLeft", 1), ("eyeBlinkRight", -1)):
        deltas[name] = zero.copy()
        eye = np.exp(-(((x - side * 0.15) / 0.07) ** 2) - ((y - 0.62) / 0.05) ** 2) * front
        deltas[name][:, 1] = -0.04 * eye
    b = _Builder()
    attributes = g.Attributes(
        POSITION=b.vertices(positions), NORMAL=b.vertices(normals), COLOR_0=b.vertices(colours)
    )
    targets = [{"POSITION": b.vertices(deltas[name].astype(np.float32))} for name in ARKIT]
    primitive = g.Primitive(
        attributes=attributes,
        indices=b.add(indices, g.SCALAR, target=g.ELEMENT_ARRAY_BUFFER),
        material=_material(b),
        targets=targets,
    )
    b.gltf.meshes = [
        g.Mesh(
            name="Face",
            primitives=[primitive],
            weights=[0.0] * len(ARKIT),
            extras={"targetNames": list(ARKIT)},
        )
    ]
    b.gltf.nodes = [g.Node(name="Avatar", children=[1]), g.Node(name="Face", mesh=0)]
    b.gltf.scenes = [g.Scene(nodes=[0])]
    b.gltf.scene = 0
    _idle(b, 0, 0.15)
    return b.save(path)
