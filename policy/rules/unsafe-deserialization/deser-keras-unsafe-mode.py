import keras
import tensorflow as tf
from keras.models import load_model
from keras.saving import load_model as lm


def restore(path):
    # ruleid: deser-keras-unsafe-mode
    model = keras.models.load_model(path, safe_mode=False)
    # ruleid: deser-keras-unsafe-mode
    keras.config.enable_unsafe_deserialization()
    # ruleid: deser-keras-unsafe-mode
    legacy = tf.keras.models.load_model("weights/best_model.h5")
    return model, legacy


def evasive(path):
    sm = False
    # ruleid: deser-keras-unsafe-mode
    lm(path, safe_mode=sm)
    # ruleid: deser-keras-unsafe-mode
    load_model(path, **{"safe_mode": False})
    # ruleid: deser-keras-unsafe-mode
    with keras.saving.serialization_lib.SafeModeScope(False):
        pass


def load_for_eval(path, custom_layers):
    # ok: deser-keras-unsafe-mode
    model = keras.models.load_model(path, custom_objects=custom_layers)
    # ok: deser-keras-unsafe-mode
    model2 = keras.saving.load_model("exports/classifier.keras", safe_mode=True)
    # ok: deser-keras-unsafe-mode
    model.save("exports/classifier.keras")
    # ok: deser-keras-unsafe-mode
    model.load_weights("exports/classifier.weights.h5")
    # ok: deser-keras-unsafe-mode
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model, model2
