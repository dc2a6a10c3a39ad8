import yaml
import yaml as y
from yaml import Loader, unsafe_load
from omegaconf import OmegaConf
from ruamel.yaml import YAML


class ConfigLoader(yaml.SafeLoader):
    pass


def load_config(path):
    with open(path) as f:
        # ruleid: deser-yaml-unsafe-load
        return yaml.load(f, Loader=yaml.Loader)


def more(path, text):
    # ruleid: deser-yaml-unsafe-load
    a = yaml.unsafe_load(text)
    # ruleid: deser-yaml-unsafe-load
    b = yaml.full_load(text)
    # ruleid: deser-yaml-unsafe-load
    c = yaml.load(text)
    # ruleid: deser-yaml-unsafe-load
    d = YAML(typ="unsafe").load(text)
    return a, b, c, d


def evasive(text):
    # ruleid: deser-yaml-unsafe-load
    y.load(text, Loader)
    # ruleid: deser-yaml-unsafe-load
    unsafe_load(text)
    # ruleid: deser-yaml-unsafe-load
    getattr(yaml, "unsafe_" + "load")(text)
    # ruleid: deser-yaml-unsafe-load
    ld = yaml.UnsafeLoader
    # ruleid: deser-yaml-unsafe-load
    yaml.load_all(text, Loader=ld)


def load_hparams(path):
    with open(path) as f:
        # ok: deser-yaml-unsafe-load
        cfg = yaml.safe_load(f)
    # ok: deser-yaml-unsafe-load
    cfg2 = yaml.load(open(path), Loader=yaml.SafeLoader)
    # ok: deser-yaml-unsafe-load
    cfg3 = yaml.load(open(path), Loader=ConfigLoader)
    # ok: deser-yaml-unsafe-load
    cfg4 = OmegaConf.load(path)
    # ok: deser-yaml-unsafe-load
    yaml.safe_dump(cfg, open(path + ".bak", "w"))
    # ok: deser-yaml-unsafe-load
    cfg5 = YAML(typ="safe").load(open(path))
    return cfg, cfg2, cfg3, cfg4, cfg5
