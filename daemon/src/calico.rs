//! Calico's route rules (confd's BIRD templates): export, import and kernel programming.
